/**
 * The ARNs of the simulated account and the ids inside them. Ids come from one counter, so a
 * run with the same calls in the same order names every task, container and container instance
 * the same way.
 */

/** Builds ARNs for one account and Region, and hands out the ids in them. */
export class EcsArns {
  readonly #prefix: string;
  readonly #accountId: string;
  #seq = 0;

  constructor(region: string, accountId: string) {
    this.#prefix = `arn:aws:ecs:${region}:${accountId}`;
    this.#accountId = accountId;
  }

  /** The next id: `length` hex characters that look random but follow the counter. */
  nextId(length: number): string {
    return hex(++this.#seq, length);
  }

  cluster(name: string): string {
    return `${this.#prefix}:cluster/${name}`;
  }

  taskDefinition(family: string, revision: number): string {
    return `${this.#prefix}:task-definition/${family}:${revision}`;
  }

  task(clusterName: string, taskId: string): string {
    return `${this.#prefix}:task/${clusterName}/${taskId}`;
  }

  /** A new container's ARN (takes an id). */
  newContainer(clusterName: string, taskId: string): string {
    return `${this.#prefix}:container/${clusterName}/${taskId}/${this.nextId(36)}`;
  }

  /** A new container instance's ARN (takes an id), as launch failures name one. */
  newContainerInstance(clusterName: string): string {
    return `${this.#prefix}:container-instance/${clusterName}/${this.nextId(32)}`;
  }

  /** Who registers task definitions. */
  get registeredBy(): string {
    return `arn:aws:iam::${this.#accountId}:user/simulator`;
  }
}

/** A deterministic, random-looking hex id of `length` characters from a counter (splitmix32). */
function hex(n: number, length: number): string {
  let out = "";
  let x = n >>> 0;
  while (out.length < length) {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    out += z.toString(16).padStart(8, "0");
  }
  return out.slice(0, length);
}
