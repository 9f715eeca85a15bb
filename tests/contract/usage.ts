// What a TypeScript user writes against the types openapi-typescript generates from the
// committed spec (./users-api.d.ts, generated next to this file by tests/test_sdk.py).
// It must compile under `tsc --strict`; run with node, it drives a live server:
//   node usage.js BASE_URL   ->  one JSON line of what it saw
import type { components, operations, paths } from "./users-api";

type User = components["schemas"]["User"];
type UserPatch = components["schemas"]["UserPatch"];
type Problem = components["schemas"]["Problem"];
type NewUser = paths["/api/v1/users"]["post"]["requestBody"]["content"]["application/json"];
type ListQuery = NonNullable<operations["listUsers"]["parameters"]["query"]>;
type Page = operations["listUsers"]["responses"][200]["content"]["application/json"];
type Created = operations["createUser"]["responses"][201]["content"]["application/json"];
type NotFound = operations["getUser"]["responses"][404]["content"]["application/problem+json"];
type Conflict = operations["createUser"]["responses"][409]["content"]["application/problem+json"];
type UserPath = operations["getUser"]["parameters"]["path"];

const course: NewUser = {
  name: "Priyanshu",
  email: "priyanshu.ts@example.com",
  role: "DevOps Engineer",
  skills: ["Docker", "Kubernetes", "AWS"],
  experience: { years: 5, companies: ["Company A", "Company B"] },
};

// The compiler refuses what the spec refuses: each line below must be an error.
// @ts-expect-error `years` is a number
const wrongYears: NewUser = { name: "P", email: "p@example.com", experience: { years: "5" } };
// @ts-expect-error `email` is required
const noEmail: NewUser = { name: "P" };
// @ts-expect-error `sort` takes only the documented keys
const badSort: ListQuery = { sort: "age" };
void [wrongYears, noEmail, badSort];

function query(params: ListQuery): string {
  // A repeatable argument (`skill`) is sent once per value.
  const pairs = Object.entries(params).flatMap(([key, value]) =>
    Array.isArray(value) ? value.map((item) => [key, String(item)]) : [[key, String(value)]],
  );
  return new URLSearchParams(pairs).toString();
}

function label(user: User): string {
  return `${user.name} <${user.email}> ${user.skills?.join("/") ?? ""}`;
}

async function call<T>(base: string, path: string, init?: RequestInit): Promise<[number, T]> {
  const response = await fetch(base + path, {
    ...init,
    headers: { "Content-Type": "application/json", ...init?.headers },
  });
  return [response.status, (await response.json()) as T];
}

async function main(base: string): Promise<void> {
  const [createdStatus, created] = await call<Created>(base, "/api/v1/users", {
    method: "POST",
    body: JSON.stringify(course),
  });
  const id: UserPath["user_id"] = created.id ?? "";
  const filters: ListQuery = { role: "DevOps Engineer", skill: ["Docker"], page: 1, page_size: 5 };
  const [, page] = await call<Page>(base, `/api/v1/users?${query(filters)}`);
  const change: UserPatch = { experience: { years: 6 } };
  const [, updated] = await call<User>(base, `/api/v1/users/${id}`, {
    method: "PATCH",
    body: JSON.stringify(change),
  });
  const [conflictStatus, conflict] = await call<Conflict>(base, "/api/v1/users", {
    method: "POST",
    body: JSON.stringify(course),
  });
  const [missingStatus, missing] = await call<NotFound>(base, "/api/v1/users/0123456789abcdef01234567");
  const problems: Problem[] = [conflict, missing];
  console.log(
    JSON.stringify({
      created: [createdStatus, label(created)],
      listed: page.items.some((user) => user.id === id) && (page.total ?? 0) >= 1,
      years: updated.experience?.years,
      problems: [conflictStatus, missingStatus, ...problems.map((problem) => problem.code)],
    }),
  );
}

main(process.argv[2] ?? "http://127.0.0.1:8000").catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
