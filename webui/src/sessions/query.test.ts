import { describe, expect, it } from "vitest";
import type { Session } from "../types";
import { serverSort, sortPage, type ListView } from "./query";

const view = (sort: string, order: "asc" | "desc"): ListView => ({
  tab: "all",
  state: "running",
  name: "",
  page: 1,
  size: 20,
  sort,
  order,
  session: null,
});

describe("sorting", () => {
  it("maps columns to the server's sort keys", () => {
    expect(serverSort(view("name", "asc"))).toBe("name");
    expect(serverSort(view("agent", "desc"))).toBe("-agent_id");
    expect(serverSort(view("created", "desc"))).toBe("-created_at");
    // Longest elapsed first = earliest start first.
    expect(serverSort(view("elapsed", "desc"))).toBe("started_at");
    expect(serverSort(view("cpu", "asc"))).toBe("cpu");
    expect(serverSort(view("mem", "desc"))).toBe("-mem");
    expect(serverSort(view("owner", "asc"))).toBe("owner");
    expect(serverSort(view("unknown", "asc"))).toBe("-created_at");
  });

  it("leaves server-sorted pages as they are", () => {
    const s = (id: string, cpu: string) => ({ id, requested: { cpu } }) as unknown as Session;
    const items = [s("a", "1"), s("b", "2.5"), s("c", "0.5")];
    expect(sortPage(items, view("cpu", "desc"))).toBe(items);
  });
});
