// The broker lifecycle as a plain object: registration with retries and its
// deadline, the STARTING -> RECOVERY -> RUNNING path driven by heartbeat
// answers, requests given up after session / 2, controller failover, stale
// epochs, and the controlled shutdown handshake.
import { apiError } from '@raftka/metadata';
import { describe, expect, it } from 'vitest';
import { BrokerLifecycle, type BrokerLifecycleOptions, type LifecycleRequest } from '../src/lifecycle.js';

const OPTIONS: BrokerLifecycleOptions = {
  brokerId: 101,
  incarnationId: 'inc-1',
  rack: 'r1',
  listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 19291 }],
  heartbeatIntervalMs: 2000,
  sessionTimeoutMs: 9000,
  initialRegistrationTimeoutMs: 60_000,
  retryBackoffMs: 100,
};

function started(options: Partial<BrokerLifecycleOptions> = {}): BrokerLifecycle {
  const l = new BrokerLifecycle({ ...OPTIONS, ...options });
  l.start(0);
  return l;
}

function expectKind<K extends LifecycleRequest['kind']>(
  r: LifecycleRequest | undefined,
  kind: K,
): Extract<LifecycleRequest, { kind: K }> {
  expect(r?.kind).toBe(kind);
  return r as Extract<LifecycleRequest, { kind: K }>;
}

const heartbeatOk = (isCaughtUp: boolean, isFenced: boolean, shouldShutDown = false) =>
  ({ ok: true, response: { isCaughtUp, isFenced, shouldShutDown } }) as const;

/** Registers at t=10 with broker epoch 5. */
function registered(options: Partial<BrokerLifecycleOptions> = {}): BrokerLifecycle {
  const l = started(options);
  const reg = expectKind(l.poll(0), 'register');
  l.onRegistrationResponse(reg.id, { ok: true, response: { brokerEpoch: 5 } }, 10);
  return l;
}

describe('BrokerLifecycle', () => {
  it('registers with its incarnation, rack and listeners, one request at a time', () => {
    const l = started();
    expect(l.state).toBe('STARTING');
    const reg = expectKind(l.poll(0), 'register');
    expect(reg.request).toEqual({
      brokerId: 101,
      incarnationId: 'inc-1',
      rack: 'r1',
      listeners: [{ name: 'PLAINTEXT', host: '127.0.0.1', port: 19291 }],
    });
    expect(l.poll(1)).toBeUndefined();
    l.onRegistrationResponse(reg.id, { ok: true, response: { brokerEpoch: 42 } }, 5);
    expect(l.brokerEpoch).toBe(42);
    expect(l.registered).toBe(true);
    // The first heartbeat goes out at once and asks to stay fenced while STARTING.
    const hb = expectKind(l.poll(5), 'heartbeat');
    expect(hb.request).toMatchObject({ brokerId: 101, brokerEpoch: 42, wantFence: true, wantShutDown: false });
  });

  it('goes STARTING -> RECOVERY -> RUNNING as the controller says caught up, then unfenced', () => {
    const l = registered();
    l.setMetadataOffset(3, 10);
    let hb = expectKind(l.poll(10), 'heartbeat');
    expect(hb.request.currentMetadataOffset).toBe(3);
    l.onHeartbeatResponse(hb.id, heartbeatOk(false, true), 20);
    expect(l.state).toBe('STARTING');
    expect(l.poll(21)).toBeUndefined();
    expect(l.nextDeadlineMs()).toBe(2020);

    l.setMetadataOffset(7, 2020);
    hb = expectKind(l.poll(2020), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 2030);
    expect(l.state).toBe('RECOVERY');
    // Caught up: the next heartbeat asks to be unfenced at once.
    hb = expectKind(l.poll(2030), 'heartbeat');
    expect(hb.request.wantFence).toBe(false);
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, false), 2040);
    expect(l.state).toBe('RUNNING');
    expect(l.fenced).toBe(false);
    expect(l.takeStateChanges().map((c) => `${c.from}->${c.to}`)).toEqual([
      'NOT_RUNNING->STARTING',
      'STARTING->RECOVERY',
      'RECOVERY->RUNNING',
    ]);
  });

  it('reports reaching its own registration record at once instead of a heartbeat interval later', () => {
    const l = registered();
    l.setMetadataOffset(2, 10);
    const hb = expectKind(l.poll(10), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(false, true), 20);
    expect(l.poll(30)).toBeUndefined();
    l.setMetadataOffset(4, 30);
    expect(l.poll(30)).toBeUndefined();
    l.setMetadataOffset(5, 40);
    const next = expectKind(l.poll(40), 'heartbeat');
    expect(next.request.currentMetadataOffset).toBe(5);
  });

  it('stays fenced in RECOVERY until the data path is ready to unfence', () => {
    const l = registered({ readyToUnfence: false });
    let hb = expectKind(l.poll(10), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 20);
    expect(l.state).toBe('RECOVERY');
    expect(l.poll(20)).toBeUndefined();
    hb = expectKind(l.poll(2020), 'heartbeat');
    expect(hb.request.wantFence).toBe(true);
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 2030);
    l.readyToUnfence(2100);
    hb = expectKind(l.poll(2100), 'heartbeat');
    expect(hb.request.wantFence).toBe(false);
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, false), 2110);
    expect(l.state).toBe('RUNNING');
  });

  it('retries registration on NOT_CONTROLLER and gives up after initial.broker.registration.timeout.ms', () => {
    const l = started({ initialRegistrationTimeoutMs: 1000 });
    let t = 0;
    let attempts = 0;
    for (let step = 0; step < 1000; step++) {
      const r = l.poll(t);
      if (l.failure !== undefined) break;
      if (r) {
        attempts++;
        expect(r.kind).toBe('register');
        l.onRegistrationResponse(r.id, { ok: false, error: apiError('NOT_CONTROLLER', 'standby') }, t + 1);
      }
      t = Math.max(t + 1, l.nextDeadlineMs());
    }
    expect(attempts).toBeGreaterThan(5);
    expect(t).toBeGreaterThanOrEqual(1000);
    expect(t).toBeLessThan(1200);
    expect(l.failure?.errorName).toBe('REQUEST_TIMED_OUT');
    expect(l.failure?.message).toContain('initial.broker.registration.timeout.ms=1000');
    expect(l.failure?.message).toContain('NOT_CONTROLLER');
    expect(l.poll(t + 1)).toBeUndefined();
    expect(l.nextDeadlineMs()).toBe(Number.POSITIVE_INFINITY);
  });

  it('waits a heartbeat interval after DUPLICATE_BROKER_REGISTRATION (the old incarnation still has a session)', () => {
    const l = started();
    const r = expectKind(l.poll(0), 'register');
    l.onRegistrationResponse(r.id, { ok: false, error: apiError('DUPLICATE_BROKER_REGISTRATION', 'alive') }, 1);
    expect(l.poll(1000)).toBeUndefined();
    expectKind(l.poll(2001), 'register');
  });

  it('gives up a request after session / 2 and sends it again (KAFKA-14392)', () => {
    const l = registered();
    const hb = expectKind(l.poll(10), 'heartbeat');
    expect(l.nextDeadlineMs()).toBe(10 + 4500);
    expect(l.poll(4000)).toBeUndefined();
    const again = expectKind(l.poll(4510), 'heartbeat');
    expect(again.id).not.toBe(hb.id);
    // The late answer to the first one is ignored.
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 4520);
    expect(l.state).toBe('STARTING');
    l.onHeartbeatResponse(again.id, heartbeatOk(true, true), 4530);
    expect(l.state).toBe('RECOVERY');
  });

  it('sends again at once to a new active controller', () => {
    const l = registered();
    const hb = expectKind(l.poll(10), 'heartbeat');
    l.controllerChanged(50);
    const again = expectKind(l.poll(50), 'heartbeat');
    expect(again.id).not.toBe(hb.id);
    l.onRequestFailed(again.id, apiError('NETWORK_EXCEPTION', 'stream closed'), 60);
    expect(l.poll(61)).toBeUndefined();
    expectKind(l.poll(160), 'heartbeat');
  });

  it('registers again (same incarnation) after STALE_BROKER_EPOCH', () => {
    const l = registered();
    const hb = expectKind(l.poll(10), 'heartbeat');
    l.onHeartbeatResponse(hb.id, { ok: false, error: apiError('STALE_BROKER_EPOCH', 'unknown epoch') }, 20);
    expect(l.registered).toBe(false);
    expect(l.brokerEpoch).toBe(-1);
    const reg = expectKind(l.poll(120), 'register');
    expect(reg.request.incarnationId).toBe('inc-1');
  });

  it('a RUNNING broker fenced by the controller stays RUNNING and asks to be unfenced', () => {
    const l = registered();
    let hb = expectKind(l.poll(10), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 20);
    hb = expectKind(l.poll(20), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, false), 30);
    expect(l.state).toBe('RUNNING');
    hb = expectKind(l.poll(2030), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 2040);
    expect(l.state).toBe('RUNNING');
    expect(l.fenced).toBe(true);
    hb = expectKind(l.poll(4040), 'heartbeat');
    expect(hb.request.wantFence).toBe(false);
  });

  it('controlled shutdown: wantShutDown heartbeats until shouldShutDown, then SHUTTING_DOWN', () => {
    const l = registered();
    let hb = expectKind(l.poll(10), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true), 20);
    hb = expectKind(l.poll(20), 'heartbeat');
    // SIGTERM while this heartbeat is in flight: its answer no longer counts.
    expect(l.beginControlledShutdown(25)).toBe(true);
    expect(l.beginControlledShutdown(26)).toBe(false);
    expect(l.state).toBe('PENDING_CONTROLLED_SHUTDOWN');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, false), 30);
    expect(l.state).toBe('PENDING_CONTROLLED_SHUTDOWN');
    hb = expectKind(l.poll(30), 'heartbeat');
    expect(hb.request).toMatchObject({ wantShutDown: true, wantFence: false });
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, false, false), 40);
    expect(l.poll(100)).toBeUndefined();
    hb = expectKind(l.poll(240), 'heartbeat');
    l.onHeartbeatResponse(hb.id, heartbeatOk(true, true, true), 250);
    expect(l.state).toBe('SHUTTING_DOWN');
    expect(l.poll(10_000)).toBeUndefined();
    expect(l.takeStateChanges().map((c) => c.to)).toEqual([
      'STARTING',
      'RECOVERY',
      'PENDING_CONTROLLED_SHUTDOWN',
      'SHUTTING_DOWN',
    ]);
  });

  it('a broker that never registered shuts down without asking', () => {
    const l = started();
    const reg = expectKind(l.poll(0), 'register');
    l.beginControlledShutdown(5);
    l.onRegistrationResponse(reg.id, { ok: false, error: apiError('NOT_CONTROLLER', 'standby') }, 6);
    expect(l.poll(500)).toBeUndefined();
    expect(l.state).toBe('SHUTTING_DOWN');
  });

  it('refuses transitions outside the table', () => {
    const l = new BrokerLifecycle(OPTIONS);
    l.start(0);
    expect(() => l.start(1)).toThrow(/STARTING -> STARTING/);
  });
});
