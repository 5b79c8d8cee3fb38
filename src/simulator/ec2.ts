/**
 * Simulated EC2, just enough for network inference: VPCs (one default by default), their
 * subnets and security groups, with the filters and paging the real API has.
 */
import type { ActionHandler } from "./control.js";
import { serviceError } from "./errors.js";

/** A VPC of the simulated account. */
export interface SimulatedVpc {
  readonly vpcId: string;
  readonly isDefault: boolean;
  readonly cidrBlock: string;
  readonly subnets: readonly { subnetId: string; availabilityZone: string; cidrBlock: string }[];
  readonly securityGroups: readonly { groupId: string; groupName: string }[];
}

/** The default VPC every Region of a new account has: one subnet per availability zone. */
export function defaultVpc(region: string): SimulatedVpc {
  return {
    vpcId: "vpc-0default0000000",
    isDefault: true,
    cidrBlock: "172.31.0.0/16",
    subnets: ["a", "b", "c"].map((az, i) => ({
      subnetId: `subnet-0default00000${i}`,
      availabilityZone: `${region}${az}`,
      cidrBlock: `172.31.${i * 16}.0/20`,
    })),
    securityGroups: [{ groupId: "sg-0default0000000", groupName: "default" }],
  };
}

type Filters = { Name?: string; Values?: string[] }[] | undefined;

function filterValues(filters: Filters, name: string): string[] | undefined {
  return filters?.find((f) => f.Name === name)?.Values;
}

/** The VPC store and its API. */
export class SimulatedEc2 {
  readonly vpcs: SimulatedVpc[];

  constructor(vpcs: SimulatedVpc[]) {
    this.vpcs = vpcs;
  }

  /** The API handlers. */
  handlers(): Record<string, ActionHandler> {
    return {
      DescribeVpcs: (input) => {
        const filters = input.Filters as Filters;
        const ids = input.VpcIds as string[] | undefined;
        const isDefault = filterValues(filters, "isDefault") ?? filterValues(filters, "is-default");
        if (ids !== undefined) {
          const missing = ids.find((id) => !this.vpcs.some((v) => v.vpcId === id));
          if (missing !== undefined)
            throw serviceError("InvalidVpcID.NotFound", `The vpc ID '${missing}' does not exist`);
        }
        return {
          Vpcs: this.vpcs
            .filter(
              (v) =>
                (ids === undefined || ids.includes(v.vpcId)) &&
                (isDefault === undefined || isDefault.includes(String(v.isDefault))),
            )
            .map((v) => ({
              VpcId: v.vpcId,
              IsDefault: v.isDefault,
              CidrBlock: v.cidrBlock,
              State: "available",
            })),
        };
      },
      DescribeSubnets: (input) => {
        const filters = input.Filters as Filters;
        const vpcIds = filterValues(filters, "vpc-id");
        const ids = input.SubnetIds as string[] | undefined;
        const unknown = ids?.find(
          (id) => !this.vpcs.some((v) => v.subnets.some((s) => s.subnetId === id)),
        );
        if (unknown !== undefined) {
          throw serviceError(
            "InvalidSubnetID.NotFound",
            `The subnet ID '${unknown}' does not exist`,
          );
        }
        const all = this.vpcs
          .filter((v) => vpcIds === undefined || vpcIds.includes(v.vpcId))
          .flatMap((v) =>
            v.subnets
              .filter((s) => ids === undefined || ids.includes(s.subnetId))
              .map((s) => ({
                SubnetId: s.subnetId,
                VpcId: v.vpcId,
                AvailabilityZone: s.availabilityZone,
                CidrBlock: s.cidrBlock,
                DefaultForAz: v.isDefault,
                MapPublicIpOnLaunch: v.isDefault,
                State: "available",
              })),
          );
        const max = typeof input.MaxResults === "number" ? input.MaxResults : all.length || 1;
        const start = typeof input.NextToken === "string" ? Number(input.NextToken) : 0;
        const page = all.slice(start, start + max);
        return {
          Subnets: page,
          ...(start + max < all.length ? { NextToken: String(start + max) } : {}),
        };
      },
      DescribeSecurityGroups: (input) => {
        const filters = input.Filters as Filters;
        const vpcIds = filterValues(filters, "vpc-id");
        const names = filterValues(filters, "group-name");
        return {
          SecurityGroups: this.vpcs
            .filter((v) => vpcIds === undefined || vpcIds.includes(v.vpcId))
            .flatMap((v) =>
              v.securityGroups
                .filter((g) => names === undefined || names.includes(g.groupName))
                .map((g) => ({
                  GroupId: g.groupId,
                  GroupName: g.groupName,
                  VpcId: v.vpcId,
                  Description: `${g.groupName} VPC security group`,
                })),
            ),
        };
      },
    };
  }
}
