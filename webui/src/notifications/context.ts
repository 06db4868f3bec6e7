import { createContext, useContext } from "react";
import type { Entry } from "./store";

export interface NotificationsState {
  entries: Entry[];
  markAllRead: () => void;
  clear: () => void;
}

export const NotificationsContext = createContext<NotificationsState>({
  entries: [],
  markAllRead: () => undefined,
  clear: () => undefined,
});

export function useNotifications(): NotificationsState {
  return useContext(NotificationsContext);
}
