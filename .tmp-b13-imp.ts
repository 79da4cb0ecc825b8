import { domainRoutes } from "./src/platform/api/domains/routes.ts";
console.log(typeof domainRoutes);
