// gRPC channel and server options, in one place with the reasons.
//
// Failover speed rests on noticing a dead peer. On loopback or a LAN a killed
// process's kernel closes its sockets, so grpc-js fails the in-flight calls
// with UNAVAILABLE within a millisecond or so; the follower's long-poll Fetch
// is always in flight, so the death of a leader is seen at once (see
// docs/architecture.md for the figure). Keepalive pings cover the case where
// no FIN/RST arrives (a host or link dies). A restarted peer should be reached
// again quickly, hence the short reconnect backoff.
import type { Http2Session } from 'node:http2';
import type { ChannelOptions } from '@grpc/grpc-js';

export interface ChannelTuning {
  /** Largest message either way; must cover fetchMaxBytes plus framing. */
  maxMessageBytes: number;
}

/** Headroom over fetchMaxBytes / snapshotChunkBytes for protobuf framing and entry headers. */
export const MESSAGE_OVERHEAD_BYTES = 1024 * 1024;

/**
 * HTTP/2 flow-control window (per stream and per connection), both ways.
 * Node's default is 64 KiB: a 1 MiB produce or fetch then needs 16 window
 * updates, each a round trip through a busy event loop, and every stream of
 * a connection shares one 64 KiB connection window. 8 MiB lets a batch of
 * requests go out at once; memory stays bounded by the message size limits
 * and the callers' in-flight bounds.
 */
export const FLOW_CONTROL_WINDOW_BYTES = 8 * 1024 * 1024;

export const KEEPALIVE_TIME_MS = 2_000;
/**
 * A ping unanswered this long closes the connection, and a closed heartbeat
 * stream fences a broker at once. 1 s turned every event-loop stall of an
 * overloaded machine (load average 20-30 on 2 cores) into a fence and a
 * round of leader moves; 5 s still catches a silent peer well inside
 * broker.session.timeout.ms (9 s), and a dead process is seen at once anyway
 * (its kernel closes the socket).
 */
export const KEEPALIVE_TIMEOUT_MS = 5_000;
export const INITIAL_RECONNECT_BACKOFF_MS = 50;
export const MAX_RECONNECT_BACKOFF_MS = 100;

export function clientChannelOptions(tuning: ChannelTuning): ChannelOptions {
  return {
    'grpc.max_send_message_length': tuning.maxMessageBytes,
    'grpc.max_receive_message_length': tuning.maxMessageBytes,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.initial_reconnect_backoff_ms': INITIAL_RECONNECT_BACKOFF_MS,
    'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
    'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
    // No service-config TXT lookup per host name: where DNS cannot answer it
    // (containers without an upstream resolver) each lookup stalled ~25 s.
    'grpc.service_config_disable_resolution': 1,
    // The Raft core resends on its own timers; a transparent retry would only
    // duplicate a request it has already given up on.
    'grpc.enable_retries': 0,
    // One connection per (node, peer) even when several nodes share a process
    // (tests), so one node's channel state never leaks into another's.
    'grpc.use_local_subchannel_pool': 1,
  };
}

export function serverOptions(tuning: ChannelTuning): ChannelOptions {
  return {
    'grpc.max_send_message_length': tuning.maxMessageBytes,
    'grpc.max_receive_message_length': tuning.maxMessageBytes,
    // The server pings too, so a parked Fetch of a peer that died without
    // closing its socket is noticed and freed. (grpc-js servers do not police
    // client ping rates, so the clients' idle pings need no permission here.)
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
  };
}

/**
 * grpc-js servers take no flow-control option (its clients do): widen the
 * window of every HTTP/2 session the server accepts. Reaches into grpc-js's
 * `http2Servers` map; if a grpc-js upgrade renames it, this does nothing and
 * the defaults apply (slower, still correct).
 */
export function widenServerFlowControl(server: object): void {
  const servers = (server as { http2Servers?: Map<NodeJS.EventEmitter, unknown> }).http2Servers;
  if (!(servers instanceof Map)) return;
  for (const http2Server of servers.keys()) {
    http2Server.on('session', (session: Http2Session) => {
      try {
        session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
        session.settings({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
      } catch {
        // A session closing already: nothing to widen.
      }
    });
  }
}
