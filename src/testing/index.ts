/**
 * `ecs-batch-runner/testing`: a simulated ECS, CloudWatch Logs and EC2 for testing jobs (and
 * code built on this library) without AWS, driven by a `ManualClock` so hours of job time run
 * in milliseconds. See docs/testing.md.
 */
export * from "../simulator/index.js";
export { killableHost, type KillableHost } from "./killable-host.js";
