"""Realistic users for a MongoDB database: `python -m api seed --users N`."""

import random
from collections.abc import Callable, Iterator
from typing import Any

from api import crud
from api.db import Store

FIRST = [
    "Priyanshu",
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Alan",
    "Barbara",
    "Dennis",
    "Frances",
    "Ken",
    "Radia",
    "Guido",
    "Hedy",
    "Tim",
    "Katherine",
    "Edsger",
    "Anita",
    "Donald",
]
LAST = [
    "Sharma",
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Turing",
    "Liskov",
    "Ritchie",
    "Allen",
    "Thompson",
    "Perlman",
    "Rossum",
    "Lamarr",
    "Berners-Lee",
    "Johnson",
    "Dijkstra",
]
ROLES = [
    "DevOps",
    "DevOps Engineer",
    "Backend Developer",
    "Frontend Developer",
    "SRE",
    "Data Engineer",
    "QA Engineer",
    "Engineering Manager",
]
SKILLS = [
    "Docker",
    "Kubernetes",
    "AWS",
    "Python",
    "Go",
    "Rust",
    "Terraform",
    "PostgreSQL",
    "MongoDB",
    "React",
    "TypeScript",
    "Linux",
    "Ansible",
    "Kafka",
    "GCP",
    "Azure",
]
COMPANIES = ["Company A", "Company B", "Acme", "Globex", "Initech", "Umbrella", "Hooli"]


def fake_users(count: int, *, seed: int = 0) -> Iterator[dict[str, Any]]:
    """`count` plausible, distinct users (the same ones for the same seed)."""
    rng = random.Random(seed)
    for index in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        yield {
            "name": f"{first} {last}",
            "email": f"{first}.{last}.{seed}.{index}@example.com".lower(),
            "role": rng.choice(ROLES),
            "skills": rng.sample(SKILLS, rng.randint(0, 5)),
            "experience": {
                "years": rng.randint(0, 30),
                "companies": rng.sample(COMPANIES, rng.randint(0, 3)),
            },
            "active": rng.random() < 0.9,
        }


async def seed_users(
    store: Store,
    count: int,
    *,
    batch_size: int = 500,
    seed: int = 0,
    progress: Callable[[int], object] = lambda _: None,
) -> tuple[int, int]:
    """Store `count` fake users in batches; return (created, already there)."""
    created = skipped = 0
    users = list(fake_users(count, seed=seed))
    for start in range(0, count, batch_size):
        batch = users[start : start + batch_size]
        results = await crud.create_users(store, items=batch)
        done = sum(result is not None for result in results)
        created, skipped = created + done, skipped + len(batch) - done
        progress(len(batch))
    return created, skipped
