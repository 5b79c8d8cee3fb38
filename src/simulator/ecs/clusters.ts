/**
 * Clusters: created ACTIVE, deleted to INACTIVE (as on ECS, where a deleted cluster stays
 * describable), resolved by name or ARN for every task action, and DescribeClusters.
 */
import { serviceError } from "../errors.js";
import type { EcsArns } from "./arns.js";
import type { Cluster, SimTask } from "./types.js";

/** The account's clusters. */
export class Clusters {
  readonly #arns: EcsArns;
  readonly #byName = new Map<string, Cluster>();

  constructor(arns: EcsArns) {
    this.#arns = arns;
  }

  /** Creates (or reactivates) a cluster. */
  create(name: string): string {
    const arn = this.#arns.cluster(name);
    this.#byName.set(name, { name, arn, status: "ACTIVE" });
    return arn;
  }

  /** Deletes a cluster (it becomes INACTIVE). */
  delete(name: string): void {
    const c = this.#byName.get(name);
    if (c !== undefined) c.status = "INACTIVE";
  }

  /** The ACTIVE cluster a task action names (`default` when it names none). */
  resolve(ref: unknown): Cluster {
    const name =
      typeof ref === "string" && ref !== ""
        ? ref.startsWith("arn:")
          ? (ref.split("/").pop() ?? ref)
          : ref
        : "default";
    const c = this.#byName.get(name);
    if (c === undefined || c.status !== "ACTIVE")
      throw serviceError("ClusterNotFoundException", "Cluster not found.");
    return c;
  }

  /** DescribeClusters: INACTIVE clusters are described, unknown ones are `MISSING`. */
  describe(
    input: Record<string, unknown>,
    tasks: () => Iterable<SimTask>,
  ): Record<string, unknown> {
    const refs = (input.clusters as string[] | undefined) ?? ["default"];
    const clusters: unknown[] = [];
    const failures: unknown[] = [];
    for (const ref of refs) {
      const name = ref.startsWith("arn:") ? (ref.split("/").pop() ?? ref) : ref;
      const c = this.#byName.get(name);
      if (c === undefined) {
        failures.push({ arn: this.#arns.cluster(name), reason: "MISSING" });
        continue;
      }
      const own = [...tasks()].filter((t) => t.cluster === c);
      clusters.push({
        clusterArn: c.arn,
        clusterName: c.name,
        status: c.status,
        runningTasksCount: own.filter((t) => t.lastStatus === "RUNNING").length,
        pendingTasksCount: own.filter(
          (t) => t.lastStatus === "PENDING" || t.lastStatus === "PROVISIONING",
        ).length,
        activeServicesCount: 0,
        registeredContainerInstancesCount: 0,
        capacityProviders: ["FARGATE", "FARGATE_SPOT"],
      });
    }
    return { clusters, failures };
  }
}
