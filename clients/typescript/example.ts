// How a client uses the generated types: typed REST calls and a typed frame handler.
// check.sh type-checks this file with `tsc --strict`; it is an example, not a library.

import type { components, paths } from "./api";
import type { ClientFrame, GroupMessage, Refusal, ServerFrame } from "./ws-frames";

// ---- REST ------------------------------------------------------------------------------

/** The JSON body of an HTTP 200 answer of `method` on `route`. */
type Json<Route extends keyof paths, Method extends "get" | "post"> = paths[Route][Method] extends {
  responses: { 200: { content: { "application/json": infer Body } } };
}
  ? Body
  : never;

/** A refusal's envelope: `status` is its code, `error` says why. */
type Refused = components["schemas"]["ErrorEnvelope"];

/**
 * The success envelope among the bodies of an HTTP 200 answer: as in the seed, a refusal
 * (a conflict, not allowed, …) may also come with HTTP 200, its code in `status`.
 */
type Success<Body> = Exclude<Body, Refused>;

/** Logs in and returns the access token. */
export async function login(base: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${base}/user/login`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  const envelope = (await response.json()) as Json<"/user/login", "post"> | Refused;
  if (envelope.status !== 200) {
    throw new Error(`${envelope.status}: ${envelope.error}`);
  }
  return (envelope as Success<typeof envelope>).data.aToken;
}

/** The chat list: one line per conversation, newest first. */
export async function chatList(base: string, token: string): Promise<string[]> {
  const response = await fetch(`${base}/chat/conversations?limit=20`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  const envelope = (await response.json()) as Json<"/chat/conversations", "get"> | Refused;
  if (envelope.status !== 200) {
    throw new Error(`${envelope.status}: ${envelope.error}`);
  }
  return (envelope as Success<typeof envelope>).data.map(
    (c) => `${c.kind} ${c.name}: ${c.last_message?.content ?? "(nothing yet)"} [${c.unread}]`,
  );
}

// ---- WebSocket frames ------------------------------------------------------------------

/** A send on a conversation socket (`/chat/ws?toUid=…`), with an id for safe resends. */
export function send(content: string, clientId: string): ClientFrame {
  return { type: 1, content, client_id: clientId };
}

/** A read receipt up to message `id`; `to` names the peer on an inbox. */
export function markRead(id: number, to?: number): ClientFrame {
  return to === undefined ? { type: 14, id } : { type: 14, id, to };
}

/** The codes of the frames that are not refusals. */
type AnswerCode = 0 | 50001 | 50002 | 50003 | 50004 | 50005 | 50010 | 50011 | 50012 | 50013
  | 50014 | 50015 | 50016 | 50017;

/** Every frame but a refusal and a group message (the one frame without `code`). */
type Answer = Extract<ServerFrame, { code: AnswerCode }>;

/**
 * A refusal may carry any code (a plugin chooses its own), so its type has `code: number`
 * and TypeScript cannot tell it from an answer by its code alone: check the code at run
 * time, then say which it is.
 */
const ANSWERS: ReadonlySet<number> = new Set<AnswerCode>([
  0, 50001, 50002, 50003, 50004, 50005, 50010, 50011, 50012, 50013, 50014, 50015, 50016, 50017,
]);

/** What a chat view shows for one frame from the server. */
export function describe(frame: ServerFrame): string {
  if (!("code" in frame)) {
    return `[group ${frame.group_id}] ${frame.sender}: ${frame.content}`;
  }
  if (!ANSWERS.has(frame.code)) {
    const refusal = frame as Refusal;
    const refused = refusal.client_id ? ` (message ${refusal.client_id})` : "";
    return `refused with ${refusal.code}${refused}: ${refusal.content}`;
  }
  return describeAnswer(frame as Answer);
}

function describeAnswer(frame: Answer): string {
  switch (frame.code) {
    case 0:
      return `${frame.from === "me" ? "I" : "they"} said: ${frame.content}${frame.read ? "" : " (unread)"}`;
    case 50001:
      return `${frame.from} → ${frame.to ?? "?"}: ${frame.content}`;
    case 50002:
      // Several answers share 50002: their fields tell them apart.
      if ("more" in frame) return "more unread: send type 3 again";
      if ("expires" in frame) return `token renewed until ${new Date(frame.expires * 1000).toISOString()}`;
      if ("group_id" in frame) return `stored as ${frame.id} in group ${frame.group_id}`;
      if ("id" in frame) return `done: ${frame.content}`;
      return "connected";
    case 50003:
      return "no more messages";
    case 50004:
    case 50005:
      return `stored as ${frame.id}${frame.rewritten ? `, as "${frame.stored}"` : ""}`;
    case 50010:
      return `${frame.from} edited ${frame.id} at ${frame.edited_at}: ${frame.content}`;
    case 50011:
      return `${frame.from} recalled ${frame.id}`;
    case 50012:
      return `you deleted ${frame.id} on another device`;
    case 50013:
      return `${frame.from} ${frame.on ? "reacted" : "took back"} ${frame.content} on ${frame.id}`;
    case 50014:
      return `${frame.from} read up to ${frame.id}`;
    case 50015:
      return `${frame.sender} mentioned you in group ${frame.group_id}`;
    case 50016:
      return `${frame.id} reached ${frame.from}`;
    case 50017:
      return `${frame.from} is typing (for ${frame.expires} s)`;
  }
}
