import { describe, expect, it } from "vitest";
import { addressError, addressListError, parseIpv4, parseIpv6, splitAddresses } from "./addresses";

describe("parseIpv4", () => {
  it("reads dotted quads", () => {
    expect(parseIpv4("203.0.113.7")).toEqual([203, 0, 113, 7]);
    expect(parseIpv4("0.0.0.0")).toEqual([0, 0, 0, 0]);
  });
  it.each(["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "a.b.c.d", "1..2.3", ""])(
    "rejects %s",
    (text) => expect(parseIpv4(text)).toBeNull(),
  );
});

describe("parseIpv6", () => {
  it("expands ::", () => {
    expect(parseIpv6("::")).toEqual(new Array(16).fill(0));
    expect(parseIpv6("::1")?.[15]).toBe(1);
    expect(parseIpv6("2001:db8::")?.slice(0, 4)).toEqual([0x20, 0x01, 0x0d, 0xb8]);
  });
  it("reads a full address and an embedded IPv4 tail", () => {
    expect(parseIpv6("2001:0db8:0000:0000:0000:ff00:0042:8329")).not.toBeNull();
    expect(parseIpv6("::ffff:192.0.2.1")?.slice(12)).toEqual([192, 0, 2, 1]);
  });
  it.each([
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "12345::",
    "g::1",
    "1:2:3:4:5:6:7::8",
    "fe80::1%eth0",
    "1.2.3.4::",
    ":1:2:3:4:5:6:7",
  ])("rejects %s", (text) => expect(parseIpv6(text)).toBeNull());
});

describe("addressError", () => {
  it.each([
    "203.0.113.7",
    "10.0.0.0/8",
    "0.0.0.0/0",
    "192.168.1.1/32",
    "::1",
    "2001:db8::/32",
    "::/0",
    "fe80::1/128",
    "::ffff:10.0.0.0/104",
  ])("accepts %s", (text) => expect(addressError(text)).toBeNull());

  it("names what is not an address", () => {
    expect(addressError("example.com")).toBe('"example.com" is not an IPv4/IPv6 address or network (CIDR)');
    expect(addressError("300.1.1.1/8")).toMatch(/not an IPv4\/IPv6 address/);
  });

  it("checks the prefix length per family", () => {
    expect(addressError("10.0.0.0/33")).toBe('"10.0.0.0/33": the prefix length must be 0 to 32');
    expect(addressError("10.0.0.0/")).toMatch(/0 to 32/);
    expect(addressError("10.0.0.0/a")).toMatch(/0 to 32/);
    expect(addressError("::/129")).toMatch(/0 to 128/);
  });

  it("accepts host bits and IPv4 netmasks, like the server (ip_network(strict=False))", () => {
    expect(addressError("10.1.2.3/8")).toBeNull();
    expect(addressError("2001:db8::1/32")).toBeNull();
    expect(addressError("10.0.0.0/255.0.0.0")).toBeNull();
    expect(addressError("10.0.0.0/255.255.240.0")).toBeNull();
    expect(addressError("10.0.0.0/0.0.15.255")).toBeNull();
    expect(addressError("10.0.0.0/255.0.255.0")).toMatch(/0 to 32/);
    expect(addressError("::/ffff::")).toMatch(/0 to 128/);
  });
});

describe("address lists", () => {
  it("splits on commas and spaces", () => {
    expect(splitAddresses(" 10.0.0.1, 10.0.0.2  ::1,,\n2001:db8::/32 ")).toEqual([
      "10.0.0.1",
      "10.0.0.2",
      "::1",
      "2001:db8::/32",
    ]);
    expect(splitAddresses("   ")).toEqual([]);
  });

  it("reports the first bad entry; empty means any client", () => {
    expect(addressListError("")).toBeNull();
    expect(addressListError("10.0.0.1 10.0.0.0/8, ::1")).toBeNull();
    expect(addressListError("10.0.0.1, nope, 10.0.0.300")).toMatch(/^"nope"/);
  });
});
