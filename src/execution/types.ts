/** Moved to `src/result.ts` (the result vocabulary sits below the engine); kept for importers not yet updated. */
export type * from "../result.js";
