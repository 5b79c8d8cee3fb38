/**
 * `--region` and `--endpoint` must not pin every log read to one region: a container whose
 * `awslogs-region` names another region is read there, as it is without the flags.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { ContainerDefinition } from "@aws-sdk/client-ecs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { awsRunnerOptions } from "../../src/cli/cli.js";
import { EcsBatchRunner } from "../../src/index.js";

const container = (name: string, region?: string): ContainerDefinition => ({
  name,
  image: "x",
  logConfiguration: {
    logDriver: "awslogs",
    options: {
      "awslogs-group": "/jobs",
      "awslogs-stream-prefix": "ecs",
      ...(region === undefined ? {} : { "awslogs-region": region }),
    },
  },
});

/**
 * A CloudWatch Logs endpoint whose every stream holds one line naming the region the request
 * was signed for, so a test sees which region's client read it.
 */
function logsEndpoint(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const region = /Credential=[^/]+\/\d+\/([^/]+)\/logs\//.exec(
        req.headers.authorization ?? "",
      )?.[1];
      const first = (JSON.parse(body) as { nextToken?: string }).nextToken === undefined;
      res.setHeader("content-type", "application/x-amz-json-1.1");
      res.end(
        JSON.stringify({
          events: first ? [{ timestamp: 0, message: `hello from ${String(region)}` }] : [],
          nextForwardToken: "f/1",
          nextBackwardToken: "b/1",
        }),
      );
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

const saved = { ...process.env };
beforeAll(() => {
  // Requests are signed, so the SDK needs some credentials; nothing leaves this machine.
  process.env.AWS_ACCESS_KEY_ID = "AKIDTEST";
  process.env.AWS_SECRET_ACCESS_KEY = "test-secret";
});
afterAll(() => {
  for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] as const) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe("the CLI's AWS options", () => {
  it("with --region, read a container logging to another region through that region's client", async () => {
    const runner = new EcsBatchRunner(awsRunnerOptions({ region: "us-east-1" }));
    const client = runner.logsClientFor("eu-west-1");
    if (!(client instanceof CloudWatchLogsClient)) throw new Error("expected an SDK client");
    expect(await client.config.region()).toBe("eu-west-1");
    // One client per region, built once.
    expect(runner.logsClientFor("eu-west-1")).toBe(client);
  });

  it("with --region and --endpoint, read each container's logs in its own region, at the endpoint", async () => {
    const { server, url } = await logsEndpoint();
    try {
      const runner = new EcsBatchRunner(awsRunnerOptions({ region: "us-east-1", endpoint: url }));
      const { text } = await runner.logFetcher.fetchTaskLogs(
        [container("main", "eu-west-1"), container("sidecar")],
        "arn:aws:ecs:us-east-1:123456789012:task/default/abc123",
        { maxBytes: 1_000_000 },
      );
      expect(text).toBe(
        [
          "=== ecs/main/abc123 ===",
          "",
          "[1970-01-01 00:00:00] hello from eu-west-1",
          "",
          "=== ecs/sidecar/abc123 ===",
          "",
          "[1970-01-01 00:00:00] hello from us-east-1",
          "",
        ].join("\n"),
      );
    } finally {
      server.close();
    }
  });

  it("without --region or --endpoint, leaves the clients to the runner (the SDK's own region)", () => {
    expect(awsRunnerOptions({})).toEqual({});
  });
});
