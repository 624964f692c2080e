import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACCOUNT_EVENTS, CONTACT_EVENTS, SESSION_STATES } from '../../src/core/schemas/events.ts';
import { API_QUEUE_GROUP, MSG_ID_HEADER, streams, subjects } from '../../src/core/schemas/subjects.ts';
import { eventJsonSchemas } from '../../src/core/schemas/write.ts';

const docPath = fileURLToPath(new URL('../../docs/asyncapi.yaml', import.meta.url));
const doc = parse(readFileSync(docPath, 'utf8')) as AsyncApi;

interface Parameter {
  enum?: string[];
  examples?: string[];
  $ref?: string;
}
interface Channel {
  address: string | null;
  parameters?: Record<string, Parameter>;
  messages?: Record<string, { $ref: string }>;
  'x-jetstream'?: { stream: string };
}
interface Operation {
  action: 'send' | 'receive';
  channel: { $ref: string };
  bindings?: { $ref: string };
  reply?: { channel: { $ref: string }; messages: Array<{ $ref: string }> };
}
interface AsyncApi {
  asyncapi: string;
  channels: Record<string, Channel>;
  operations: Record<string, Operation>;
  components: Record<string, Record<string, unknown>>;
}

/** Follows a local `#/a/b` reference inside the document. */
function resolve<T>(ref: string): T {
  expect(ref.startsWith('#/'), `${ref} is not a local reference`).toBe(true);
  let node: unknown = doc;
  for (const key of ref.slice(2).split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[key];
    expect(node, `${ref} does not resolve`).toBeDefined();
  }
  return node as T;
}

/** The values a parameter stands for: its enum, or its examples. */
function valuesOf(parameter: Parameter): string[] {
  const resolved = parameter.$ref ? resolve<Parameter>(parameter.$ref) : parameter;
  return resolved.enum ?? resolved.examples ?? [];
}

/** Every concrete subject an address template stands for. */
function expand(channel: Channel): string[] {
  let addresses = [channel.address!];
  for (const [name, parameter] of Object.entries(channel.parameters ?? {})) {
    const values = valuesOf(parameter);
    expect(values.length, `parameter ${name} has no enum or examples`).toBeGreaterThan(0);
    addresses = addresses.flatMap((address) => values.map((value) => address.replace(`{${name}}`, value)));
  }
  for (const address of addresses) expect(address, `unknown parameter left in ${address}`).not.toMatch(/[{}]/);
  return addresses;
}

function allRefs(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((item) => allRefs(item, found));
  else if (node && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else allRefs(value, found);
    }
  }
  return found;
}

const concreteChannels = Object.entries(doc.channels).filter(([, channel]) => channel.address !== null);

describe('docs/asyncapi.yaml', () => {
  it('is an AsyncAPI 3.0 document', () => {
    expect(doc.asyncapi).toBe('3.0.0');
  });

  it('describes exactly the subjects subjects("omni") builds', () => {
    const parameters = doc.components.parameters as Record<string, Parameter>;
    const channelIds = valuesOf(parameters.channel!);
    const accounts = valuesOf(parameters.account!);
    const s = subjects('omni');
    const built: string[] = [s.cmd.send, ...Object.values(s.api)];
    for (const contactEvent of CONTACT_EVENTS) built.push(s.evt.contact(contactEvent));
    for (const channel of channelIds) {
      for (const account of accounts) {
        built.push(
          s.evt.messageIn(channel, account),
          s.evt.messageOut(channel, account),
          s.evt.messageStatus(channel, account),
          s.evt.deadletter(channel, account),
          s.evt.deadletterIn(channel, account),
          s.evt.messageEdited(channel, account),
          s.evt.messageDeleted(channel, account),
          s.evt.templateUpdated(channel, account),
          ...SESSION_STATES.map((state) => s.evt.session(state, channel, account)),
          ...ACCOUNT_EVENTS.map((event) => s.evt.account(event, channel, account)),
        );
      }
    }
    const documented = concreteChannels.flatMap(([, channel]) => expand(channel));
    expect(documented.sort()).toEqual(built.sort());
  });

  it('puts events in OMNI_EVENTS and commands in OMNI_COMMANDS, and nothing else in streams', () => {
    const names = streams('omni');
    const filters = subjects('omni').streamFilters;
    for (const [name, channel] of concreteChannels) {
      const address = channel.address!;
      const stream = channel['x-jetstream']?.stream;
      if (address.startsWith(filters.events.slice(0, -1))) expect(stream, name).toBe(names.events);
      else if (address.startsWith(filters.commands.slice(0, -1))) expect(stream, name).toBe(names.commands);
      else expect(stream, `${name} is request/reply, not JetStream`).toBeUndefined();
    }
  });

  it('answers every request/reply subject in the queue group, with its answer or a failure', () => {
    const apiSubjects = Object.values(subjects('omni').api);
    const answered = Object.values(doc.operations).filter((operation) => operation.reply);
    expect(answered.map((operation) => resolve<Channel>(operation.channel.$ref).address).sort()).toEqual([...apiSubjects].sort());
    for (const operation of answered) {
      expect(operation.action).toBe('receive');
      expect(resolve<{ nats: { queue: string } }>(operation.bindings!.$ref).nats.queue).toBe(API_QUEUE_GROUP);
      const replies = operation.reply!.messages.map((message) => message.$ref);
      expect(replies).toHaveLength(2);
      expect(replies).toContain('#/channels/apiReply/messages/failure');
    }
  });

  it('has an operation for every channel, and the daemon sends every event with its Nats-Msg-Id', () => {
    const used = new Set(Object.values(doc.operations).map((operation) => operation.channel.$ref));
    for (const [name] of concreteChannels) expect(used, name).toContain(`#/channels/${name}`);
    for (const [name, channel] of concreteChannels.filter(([, channel]) => channel['x-jetstream']?.stream === 'OMNI_EVENTS')) {
      for (const message of Object.values(channel.messages ?? {})) {
        const headers = resolve<{ headers: { $ref: string } }>(message.$ref).headers;
        expect(resolve<{ required: string[] }>(headers.$ref).required, name).toContain(MSG_ID_HEADER);
      }
    }
  });

  it('resolves every reference, and references every NATS payload schema', () => {
    const refs = allRefs(doc);
    for (const ref of refs.filter((ref) => ref.startsWith('#/'))) resolve(ref);
    const files = refs.filter((ref) => !ref.startsWith('#/'));
    for (const file of files) {
      expect(file).toMatch(/^\.\.\/schemas\/.+\.json$/);
      expect(existsSync(fileURLToPath(new URL(file, new URL('../../docs/', import.meta.url)))), file).toBe(true);
    }
    // The two HTTP-only bodies have no NATS subject.
    const httpOnly = ['api/http-error.json', 'api/contact.patch.json'];
    const natsSchemas = Object.keys(eventJsonSchemas()).filter((path) => !httpOnly.includes(path));
    expect([...new Set(files.map((file) => file.slice('../schemas/'.length)))].sort()).toEqual(natsSchemas.sort());
  });
});
