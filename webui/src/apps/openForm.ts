// The options of the app launcher ("Open to public", "Try preferred port", TensorBoard's log
// directory): client-side rules, the request body, and the server's refusals per field.
import type { ApiError } from "../api";
import type { AppOpenBody } from "../types";
import { addressListError, splitAddresses } from "./addresses";

export interface OpenOptions {
  public: boolean;
  /** Comma- or space-separated client IPs/CIDRs; empty: any client. */
  allowedIps: string;
  tryPort: boolean;
  port: number | null;
}

export const DEFAULT_OPTIONS: OpenOptions = { public: false, allowedIps: "", tryPort: false, port: null };
export const DEFAULT_LOGDIR = "/home/work/logs";
export const PORT_MIN = 1024;
export const PORT_MAX = 65535;

/** The fields of the dialog that can show a message; named like the body's keys. */
export type OpenField = "allowed_ips" | "preferred_port" | "logdir";
export type OpenErrors = Partial<Record<OpenField, string>>;
const FIELDS: readonly OpenField[] = ["allowed_ips", "preferred_port", "logdir"];

export function preferredPortError(port: number | null | undefined): string | null {
  if (port === null || port === undefined || Number.isNaN(port)) return "enter a port number";
  if (!Number.isInteger(port) || port < PORT_MIN || port > PORT_MAX) {
    return `the port must be a whole number from ${PORT_MIN} to ${PORT_MAX}`;
  }
  return null;
}

export function logdirError(logdir: string): string | null {
  const text = logdir.trim();
  if (!text) return "enter the log directory";
  if (!text.startsWith("/")) return "must be an absolute path inside the session, e.g. /home/work/logs";
  if (/[\0\n\r]/.test(text)) return "the log directory must be a single line";
  return null;
}

/** Problems of the options (and of the log directory when one is asked for). */
export function validateOptions(opts: OpenOptions, logdir: string | null = null): OpenErrors {
  const errors: OpenErrors = {};
  if (opts.public) {
    const e = addressListError(opts.allowedIps);
    if (e) errors.allowed_ips = e;
  }
  if (opts.tryPort) {
    const e = preferredPortError(opts.port);
    if (e) errors.preferred_port = e;
  }
  if (logdir !== null) {
    const e = logdirError(logdir);
    if (e) errors.logdir = e;
  }
  return errors;
}

/** The body of POST /apps/{name}/open; options that are switched off are not sent. */
export function toOpenBody(opts: OpenOptions, logdir: string | null = null): AppOpenBody {
  const ips = opts.public ? [...new Set(splitAddresses(opts.allowedIps))] : [];
  return {
    public: opts.public,
    allowed_ips: ips,
    preferred_port: opts.tryPort ? opts.port : null,
    logdir: logdir === null ? null : logdir.trim(),
  };
}

/** The dialog field a server error names ("allowed_ips.1" -> "allowed_ips"), if any. */
export function openFieldOf(field: string): OpenField | null {
  const parts = field.split(".");
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as OpenField;
    if (FIELDS.includes(part)) return part;
  }
  return null;
}

/** A refusal split into messages at the fields and the rest (for an Alert). */
export function splitApiError(error: ApiError): { fields: OpenErrors; general: string | null } {
  const fields: OpenErrors = {};
  const rest: string[] = [];
  for (const f of error.fields) {
    const field = openFieldOf(f.field);
    if (field) fields[field] = fields[field] ? `${fields[field]}; ${f.message}` : f.message;
    else rest.push(f.field ? `${f.field}: ${f.message}` : f.message);
  }
  if (error.fields.length === 0) rest.push(error.message);
  return { fields, general: rest.length ? rest.join("; ") : null };
}

/** The notes of an open answer worth a message: for SSH/SFTP without the ssh command the
 * dialog shows anyway (the server puts it first). */
export function openNotes(result: { message: string; ssh: unknown }, sshCommand: string | null): string {
  const text = result.message.trim();
  if (result.ssh && sshCommand && text.startsWith(sshCommand)) return text.slice(sshCommand.length).trim();
  return text;
}

/** The example commands of the SSH/SFTP app. */
export function sshCommands(ssh: { host: string; port: number; user: string }): {
  ssh: string;
  sftp: string;
} {
  // sftp reads "host:path", so an IPv6 host needs brackets there (ssh takes it as it is).
  const sftpHost = ssh.host.includes(":") ? `[${ssh.host}]` : ssh.host;
  return {
    ssh: `ssh -i id_container -p ${ssh.port} ${ssh.user}@${ssh.host}`,
    sftp: `sftp -i id_container -P ${ssh.port} ${ssh.user}@${sftpHost}`,
  };
}
