import { Type, type Static } from "typebox";

/** The deploy id is checked by the service (a malformed or unknown id is a 404). */
export const ApproveParams = Type.Object({ deploy_id: Type.String({ maxLength: 100 }) });
export type ApproveParams = Static<typeof ApproveParams>;
