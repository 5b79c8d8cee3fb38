/**
 * The limits ECS puts on the calls this library makes (DESIGN 3.10), in one place: the job
 * schema checks a job against them before any AWS call, and the request builder and the
 * stopper keep to them.
 */
/** Limits ECS enforces, checked up front so a job that would be refused launches nothing. */
export const ECS_LIMITS = {
  /** RunTask `startedBy`. */
  startedByMaxLength: 128,
  /** RunTask `overrides`, serialised. */
  overridesMaxLength: 8192,
  /** Tags per task, including the ones this library adds. */
  maxTags: 50,
  tagKeyMaxLength: 128,
  tagValueMaxLength: 256,
  /** RunTask `clientToken`. */
  clientTokenMaxLength: 64,
  /** StopTask `reason`. */
  stopReasonMaxLength: 255,
  /** awsvpcConfiguration. */
  maxSubnets: 16,
  maxSecurityGroups: 5,
} as const;
