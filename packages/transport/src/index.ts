// gRPC transport: proto loading, servers and clients, deadlines, cluster id checks.
export {};
