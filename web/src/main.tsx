import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { RouterProvider } from "@tanstack/react-router";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiError } from "./lib/api.ts";
import { SessionWatcher } from "./lib/session.tsx";
import { router } from "./router.tsx";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A refused request (4xx) is not retried: its message is shown as the API wrote it.
      retry: (count, error) =>
        !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
      refetchOnWindowFocus: true,
      // Live pages keep polling in a background tab (no stalled lists when you come back).
      refetchIntervalInBackground: true,
    },
  },
});

const root = document.getElementById("root");
if (root) {
  createRoot(root).render(
    <StrictMode>
      <QueryClientProvider client={queryClient}>
        <SessionWatcher>
          <RouterProvider router={router} />
        </SessionWatcher>
      </QueryClientProvider>
    </StrictMode>,
  );
}
