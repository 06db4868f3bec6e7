// What the launcher may offer: the projects and resource groups of the session's owner (the
// user, or, for an admin assigning the owner, that user after an email lookup), the presets of
// the chosen group and the resource check (limits, usage, remaining, agents' free resources).
import { useEffect, useState } from "react";
import { adminApi } from "../admin/adminApi";
import type { Preset, ResourceCheck } from "./resources";

export interface LaunchScope {
  /** Project names the owner belongs to; null while not known. */
  projects: string[] | null;
  /** Resource groups the owner may use; null while not known. */
  groups: string[] | null;
  /** The owner these lists are for (an admin's lookup), or null for the user. */
  owner: string | null;
  presets: Preset[];
  check: ResourceCheck | null;
  /** Why the check could not be loaded (the launcher falls back to the agents list). */
  checkError: string | null;
}

const EMAIL_RE = /^[^@\s]+@[^@\s]+$/;

export function useLaunchScope(opts: {
  admin: boolean;
  /** Whose projects and groups (admins: looked up by email); the caller's own when null. */
  ownerEmail: string | null;
  selfEmail: string;
  group: string;
  project: string;
  /** Bumped to reload the check (e.g. with the agents list). */
  tick: number;
}): LaunchScope {
  const { admin, ownerEmail, selfEmail, group, project, tick } = opts;
  const [lists, setLists] = useState<{ projects: string[] | null; groups: string[] | null; owner: string | null }>({
    projects: null,
    groups: null,
    owner: null,
  });
  const [presets, setPresets] = useState<Preset[]>([]);
  const [check, setCheck] = useState<{ key: string; value: ResourceCheck | null; error: string | null }>({
    key: "",
    value: null,
    error: null,
  });

  // The owner's projects and groups: an admin's lookup when assigning another owner, else
  // the caller's own lists.
  const lookupEmail = admin && ownerEmail && EMAIL_RE.test(ownerEmail.trim()) ? ownerEmail.trim() : null;
  useEffect(() => {
    const ctl = new AbortController();
    const timer = window.setTimeout(
      () => {
        if (lookupEmail) {
          adminApi.lookup(lookupEmail, ctl.signal).then(
            (u) =>
              setLists({
                projects: u.projects.map((p) => p.name).sort(),
                groups: [...u.resource_groups].sort(),
                owner: u.email,
              }),
            (e: Error) => {
              if (e.name === "AbortError") return;
              if (lookupEmail === selfEmail) ownLists();
              else setLists({ projects: [], groups: [], owner: lookupEmail });
            },
          );
          return;
        }
        ownLists();
      },
      lookupEmail && lookupEmail !== selfEmail ? 400 : 0,
    );
    const ownLists = () =>
      Promise.allSettled([adminApi.projects(), adminApi.groups()]).then(([p, g]) => {
          if (ctl.signal.aborted) return;
          setLists({
            projects: p.status === "fulfilled" ? p.value.filter((x) => x.is_active !== false).map((x) => x.name).sort() : null,
            groups:
              g.status === "fulfilled" ? g.value.filter((x) => x.is_active !== false).map((x) => x.name).sort() : null,
            owner: null,
          });
        });
    return () => {
      window.clearTimeout(timer);
      ctl.abort();
    };
  }, [lookupEmail, selfEmail]);

  useEffect(() => {
    let live = true;
    adminApi.presets(group).then(
      (list) => live && setPresets(list),
      () => live && setPresets([]),
    );
    return () => {
      live = false;
    };
  }, [group]);

  // An admin launching for another user sees that user's limits and usage.
  const owner = lists.owner;
  const key = `${group}\u0000${project}\u0000${owner ?? ""}`;
  useEffect(() => {
    const ctl = new AbortController();
    adminApi.check(group, project, ctl.signal, owner).then(
      (value) => setCheck({ key, value, error: null }),
      (e: Error) => {
        if (e.name !== "AbortError") setCheck({ key, value: null, error: e.message });
      },
    );
    return () => ctl.abort();
  }, [group, project, owner, key, tick]);

  return {
    ...lists,
    presets,
    check: check.key === key ? check.value : null,
    checkError: check.key === key ? check.error : null,
  };
}
