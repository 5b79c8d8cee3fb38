/**
 * The awsvpc network of a job's tasks (DESIGN 3.9): explicit settings as given, or inferred from
 * the default VPC (or a named one) through EC2. Inference results are cached per resolver, so a
 * runner asks EC2 once per VPC, not once per job. The EC2 SDK module (the commands) is loaded
 * only when a job needs inferring, so a job with explicit subnets never pays for it.
 */
import type {
  DescribeSecurityGroupsCommandOutput,
  DescribeSubnetsCommandOutput,
  DescribeVpcsCommandOutput,
} from "@aws-sdk/client-ec2";
import type { AwsVpcConfiguration } from "@aws-sdk/client-ecs";
import { importEc2Module } from "../aws/sdk.js";
import {
  actionOf,
  awsErrorMessage,
  awsErrorName,
  commonSetupError,
  isAccessDeniedError,
  sendFor,
  withRetries,
  type AwsClient,
  type AwsCommand,
} from "../aws.js";
import { systemClock, type Clock } from "../clock.js";
import { EcsBatchSetupError } from "../errors.js";
import type { NetworkConfig } from "../job/schema.js";

const HOW_TO_PASS =
  'pass network: { subnets: ["subnet-..."], securityGroups: ["sg-..."] } in the job (or { vpcId: "vpc-..." } to infer from another VPC)';

/**
 * Finds the subnets (and default security group) of a VPC; caches per VPC. Throttled and
 * transiently failing EC2 calls are sent again, up to 4 times with backoff on `clock`.
 */
export class NetworkResolver {
  readonly #ec2: AwsClient;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #cache = new Map<string, Promise<AwsVpcConfiguration>>();

  /** @param random spreads the waits between retries of throttled calls (see `withRetries`) */
  constructor(ec2: AwsClient, clock: Clock = systemClock, random?: () => number) {
    this.#ec2 = ec2;
    this.#clock = clock;
    this.#random = random;
  }

  /**
   * The awsvpc configuration for a job, or `undefined` when the task definition does not use
   * awsvpc (EC2 bridge or host networking takes no network configuration).
   */
  async resolve(
    network: NetworkConfig | undefined,
    networkMode: string | undefined,
  ): Promise<AwsVpcConfiguration | undefined> {
    if (networkMode !== "awsvpc") return undefined;
    if (network?.kind === "explicit") {
      return {
        subnets: [...network.subnets],
        securityGroups: [...network.securityGroups],
        assignPublicIp: network.assignPublicIp,
      };
    }
    const key = network?.vpcId ?? "(default)";
    let pending = this.#cache.get(key);
    if (pending === undefined) {
      pending = this.#infer(network?.vpcId);
      this.#cache.set(key, pending);
      pending.catch(() => this.#cache.delete(key));
    }
    const config = await pending;
    return {
      ...config,
      subnets: [...(config.subnets ?? [])],
      securityGroups: [...(config.securityGroups ?? [])],
    };
  }

  async #infer(vpcId: string | undefined): Promise<AwsVpcConfiguration> {
    const which = vpcId === undefined ? "the default VPC" : `VPC ${vpcId}`;
    try {
      const { DescribeSecurityGroupsCommand, DescribeSubnetsCommand, DescribeVpcsCommand } =
        await importEc2Module();
      const vpcs = await this.#send<DescribeVpcsCommandOutput>(
        new DescribeVpcsCommand(
          vpcId === undefined
            ? { Filters: [{ Name: "is-default", Values: ["true"] }] }
            : { VpcIds: [vpcId] },
        ),
      );
      const vpc = vpcs.Vpcs?.[0]?.VpcId;
      if (vpc === undefined) {
        throw new EcsBatchSetupError(
          "NETWORK_NOT_INFERABLE",
          `cannot infer the network: ${which} was not found in this region; ${HOW_TO_PASS}`,
        );
      }
      const subnets: string[] = [];
      let nextToken: string | undefined;
      do {
        const page = await this.#send<DescribeSubnetsCommandOutput>(
          new DescribeSubnetsCommand({
            Filters: [{ Name: "vpc-id", Values: [vpc] }],
            NextToken: nextToken,
          }),
        );
        for (const s of page.Subnets ?? []) if (s.SubnetId !== undefined) subnets.push(s.SubnetId);
        nextToken = page.NextToken;
      } while (nextToken !== undefined && nextToken !== "");
      if (subnets.length === 0) {
        throw new EcsBatchSetupError(
          "NETWORK_NOT_INFERABLE",
          `cannot infer the network: ${which} (${vpc}) has no subnets; ${HOW_TO_PASS}`,
        );
      }
      const groups = await this.#send<DescribeSecurityGroupsCommandOutput>(
        new DescribeSecurityGroupsCommand({
          Filters: [
            { Name: "vpc-id", Values: [vpc] },
            { Name: "group-name", Values: ["default"] },
          ],
        }),
      );
      const securityGroups = (groups.SecurityGroups ?? []).flatMap((g) =>
        g.GroupId === undefined ? [] : [g.GroupId],
      );
      // ECS accepts at most 16 subnets; a default VPC has one per availability zone, fewer than that.
      return {
        subnets: subnets.sort().slice(0, 16),
        securityGroups,
        // Default-VPC subnets are public; without a public IP a Fargate task cannot pull its image.
        assignPublicIp: "ENABLED",
      };
    } catch (err) {
      if (err instanceof EcsBatchSetupError) throw err;
      if (isAccessDeniedError(err)) {
        throw new EcsBatchSetupError(
          "NETWORK_NOT_INFERABLE",
          `cannot infer the network: EC2 denied the request (${awsErrorName(err)}); grant ec2:DescribeVpcs, ec2:DescribeSubnets and ec2:DescribeSecurityGroups, or ${HOW_TO_PASS}`,
          { cause: err },
        );
      }
      throw new EcsBatchSetupError(
        "NETWORK_NOT_INFERABLE",
        `cannot infer the network from ${which}: ${awsErrorName(err)}: ${awsErrorMessage(err)}; ${HOW_TO_PASS}`,
        { cause: err },
      );
    }
  }

  /**
   * One EC2 call, sent again after throttling and transient errors (see `withRetries`). No
   * credentials, or no answer, is the same setup error whichever call met it, named by it.
   */
  async #send<T extends object>(command: AwsCommand): Promise<T> {
    try {
      return await withRetries(() => sendFor<T>(this.#ec2, command), {
        clock: this.#clock,
        ...(this.#random === undefined ? {} : { random: this.#random }),
      });
    } catch (err) {
      throw commonSetupError(actionOf(command), err) ?? err;
    }
  }
}
