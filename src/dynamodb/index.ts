/**
 * `ecs-batch-runner/dynamodb`: a `JobStore` on DynamoDB, so that a run started on one host can
 * be carried on by another (DESIGN 3.11). Needs `@aws-sdk/client-dynamodb`, an optional peer
 * dependency that only this entry point loads.
 */
export {
  DynamoDbJobStore,
  jobStoreTable,
  PART_BYTES,
  TTL_ATTRIBUTE,
  type DynamoDbJobStoreOptions,
} from "./store.js";
