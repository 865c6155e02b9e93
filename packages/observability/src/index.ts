// pino logger factory and prom-client metrics registry with an HTTP /metrics endpoint.
export {};
