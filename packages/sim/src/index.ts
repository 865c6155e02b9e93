// Deterministic simulator that runs the real protocol cores under a seeded network, clock and disk.
export {};
