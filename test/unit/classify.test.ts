/** The one AWS error classifier (`classifyAwsError`) every module asks, as a table. */
import { describe, expect, it } from "vitest";
import { classifyAwsError, runTaskErrorKind, type AwsErrorClass } from "../../src/index.js";

function awsError(name: string, extra: Record<string, unknown> = {}, message = name): Error {
  return Object.assign(new Error(message), { name, ...extra });
}

const rows: [string, unknown, AwsErrorClass, "throttled" | "ambiguous" | "fatal"][] = [
  ["ThrottlingException", awsError("ThrottlingException"), "throttled", "throttled"],
  [
    "HTTP 429",
    awsError("Whatever", { $metadata: { httpStatusCode: 429 } }),
    "throttled",
    "throttled",
  ],
  ["ServerException", awsError("ServerException"), "transient", "ambiguous"],
  [
    "a 503",
    awsError("ServiceUnavailable", { $metadata: { httpStatusCode: 503 } }),
    "transient",
    "ambiguous",
  ],
  [
    "a reset socket",
    Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    "transient",
    "ambiguous",
  ],
  [
    "a 200 whose body does not parse",
    Object.assign(new SyntaxError("Unexpected token <\n  Deserialization error: ..."), {
      $response: { statusCode: 200 },
    }),
    "ambiguous",
    "ambiguous",
  ],
  ["AccessDeniedException", awsError("AccessDeniedException"), "accessDenied", "fatal"],
  ["ExpiredTokenException", awsError("ExpiredTokenException"), "accessDenied", "fatal"],
  ["CredentialsProviderError", awsError("CredentialsProviderError"), "noCredentials", "fatal"],
  ["ClusterNotFoundException", awsError("ClusterNotFoundException"), "notFound", "fatal"],
  [
    "a task ECS no longer knows",
    awsError("InvalidParameterException", {}, "The referenced task was not found."),
    "notFound",
    "fatal",
  ],
  ["InvalidParameterException", awsError("InvalidParameterException"), "fatal", "fatal"],
  [
    "a ClientException a stand-in client answers with a 500",
    awsError("ClientException", { $metadata: { httpStatusCode: 500 } }),
    "fatal",
    "fatal",
  ],
  ["an unanswered command", awsError("EmptyResponseError"), "fatal", "fatal"],
  ["a TypeError", new TypeError("x is undefined"), "fatal", "fatal"],
  ["an object without a prototype", Object.create(null) as object, "fatal", "fatal"],
];

describe("classifyAwsError", () => {
  it.each(rows)("%s", (_name, error, expected, runTask) => {
    expect(classifyAwsError(error)).toBe(expected);
    expect(runTaskErrorKind(error)).toBe(runTask);
  });
});
