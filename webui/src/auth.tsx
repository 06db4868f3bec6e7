// Who is logged in. The login lives on the server; its cookie (berth_login) is HttpOnly, so
// the browser keeps the login across reloads and this context only asks the server who we are.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import { api, ApiError, setUnauthorizedHandler } from "./api";
import { closeStream, setStreamLostHandler } from "./events";
import type { User } from "./types";

interface AuthState {
  /** undefined while asking the server, null when logged out. */
  user: User | null | undefined;
  login: (email: string, password: string) => Promise<User>;
  logout: () => Promise<void>;
}

const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null | undefined>(undefined);

  useEffect(() => {
    setUnauthorizedHandler(() => {
      closeStream();
      setUser(null);
    });
    // The event stream closed for good (not a network blip): if the login expired, the
    // 401 of this check sends the app back to the login page.
    setStreamLostHandler(() => void api.me().catch(() => undefined));
    api.me(true).then(setUser, () => setUser(null));
  }, []);

  const login = useCallback(async (email: string, password: string) => {
    const result = await api.login(email, password);
    setUser(result.user);
    return result.user;
  }, []);

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch (e) {
      // 401: the login had ended already (expired, or revoked from "Logins"): logged out.
      if (!(e instanceof ApiError && e.status === 401)) throw e;
    } finally {
      closeStream();
      setUser(null);
    }
  }, []);

  const value = useMemo(() => ({ user, login, logout }), [user, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const state = useContext(AuthContext);
  if (!state) throw new Error("useAuth outside AuthProvider");
  return state;
}

/** The logged-in user (only inside pages that require a login). */
export function useUser(): User {
  const { user } = useAuth();
  if (!user) throw new Error("useUser without a logged-in user");
  return user;
}

export function isAdmin(user: User): boolean {
  return user.role === "admin" || user.role === "superadmin";
}
