"""Who the customers are: names, countries and cities, e-mail addresses, and the CRM record of
each customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from tailor.synthetic.common import _ascii, _iso_seconds
from tailor.synthetic.config import GeneratorConfig
from tailor.synthetic.personas import _PERSONA_PARAMS

# language: (female first names, male first names, last names)
# (data, not logic: the lists share their shape, one name a line as formatted)
_NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        (
            "Anna",
            "Lena",
            "Laura",
            "Julia",
            "Sarah",
            "Lea",
            "Hannah",
            "Katharina",
            "Sophie",
            "Marie",
            "Claudia",
            "Sabine",
        ),
        (
            "Lukas",
            "Jonas",
            "Leon",
            "Felix",
            "Maximilian",
            "Paul",
            "Tobias",
            "Jan",
            "Michael",
            "Thomas",
            "Stefan",
            "Florian",
        ),
        (
            "Müller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Schulz",
            "Hoffmann",
            "Koch",
            "Richter",
            "Wolf",
            "Schröder",
            "Neumann",
            "Zimmermann",
        ),
    ),
    "fr": (
        ("Camille", "Léa", "Manon", "Chloé", "Emma", "Inès", "Julie", "Sophie", "Claire", "Élodie"),
        (
            "Lucas",
            "Hugo",
            "Louis",
            "Nathan",
            "Thomas",
            "Julien",
            "Antoine",
            "Nicolas",
            "Pierre",
            "Maxime",
        ),
        (
            "Martin",
            "Bernard",
            "Dubois",
            "Thomas",
            "Robert",
            "Richard",
            "Petit",
            "Durand",
            "Leroy",
            "Moreau",
            "Simon",
            "Laurent",
            "Lefèvre",
            "Girard",
        ),
    ),
    "nl": (
        ("Emma", "Sanne", "Lotte", "Anouk", "Femke", "Fleur", "Iris", "Lisa"),
        ("Daan", "Sem", "Lars", "Bram", "Thijs", "Ruben", "Jesse", "Tim"),
        (
            "de Jong",
            "Jansen",
            "de Vries",
            "van den Berg",
            "van Dijk",
            "Bakker",
            "Janssen",
            "Visser",
            "Smit",
            "Meijer",
            "de Boer",
            "Mulder",
        ),
    ),
    "es": (
        ("Lucía", "María", "Paula", "Laura", "Marta", "Carmen", "Elena", "Sara"),
        ("Hugo", "Pablo", "Javier", "Daniel", "Alejandro", "Carlos", "David", "Sergio"),
        (
            "García",
            "Fernández",
            "González",
            "Rodríguez",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Martín",
            "Ruiz",
            "Díaz",
        ),
    ),
    "it": (
        ("Giulia", "Sofia", "Chiara", "Francesca", "Martina", "Sara", "Alessia", "Elena"),
        ("Lorenzo", "Matteo", "Luca", "Marco", "Andrea", "Francesco", "Alessandro", "Davide"),
        (
            "Rossi",
            "Russo",
            "Ferrari",
            "Esposito",
            "Bianchi",
            "Romano",
            "Colombo",
            "Ricci",
            "Marino",
            "Greco",
            "Bruno",
            "Gallo",
        ),
    ),
    "pl": (
        ("Anna", "Zuzanna", "Julia", "Maja", "Katarzyna", "Agnieszka", "Magdalena", "Ewa"),
        ("Jakub", "Jan", "Piotr", "Krzysztof", "Tomasz", "Paweł", "Michał", "Kacper"),
        (
            "Nowak",
            "Kowalski",
            "Wiśniewski",
            "Wójcik",
            "Kowalczyk",
            "Kamiński",
            "Lewandowski",
            "Zieliński",
            "Szymański",
            "Woźniak",
        ),
    ),
    "en": (
        (
            "Olivia",
            "Emily",
            "Sophie",
            "Charlotte",
            "Jessica",
            "Hannah",
            "Grace",
            "Amelia",
            "Emma",
            "Madison",
        ),
        (
            "Oliver",
            "Jack",
            "Harry",
            "James",
            "George",
            "William",
            "Thomas",
            "Daniel",
            "Michael",
            "Ethan",
        ),
        (
            "Smith",
            "Jones",
            "Taylor",
            "Brown",
            "Williams",
            "Wilson",
            "Johnson",
            "Davies",
            "Miller",
            "Clarke",
            "Walker",
            "O'Brien",
        ),
    ),
    "sv": (
        ("Elsa", "Alice", "Maja", "Ebba", "Wilma", "Astrid"),
        ("Erik", "Lars", "Oskar", "William", "Hugo", "Axel"),
        ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Svensson"),
    ),
}


# country: (weight, name language, locale, phone prefix, ((city, IANA timezone), ...))
_COUNTRIES: tuple[tuple[str, float, str, str, str, tuple[tuple[str, str], ...]], ...] = (
    (
        "DE",
        0.30,
        "de",
        "de-DE",
        "+49",
        tuple(
            (c, "Europe/Berlin")
            for c in (
                "Berlin",
                "Hamburg",
                "München",
                "Köln",
                "Frankfurt am Main",
                "Stuttgart",
                "Leipzig",
                "Düsseldorf",
            )
        ),
    ),
    (
        "FR",
        0.13,
        "fr",
        "fr-FR",
        "+33",
        tuple(
            (c, "Europe/Paris")
            for c in ("Paris", "Lyon", "Marseille", "Toulouse", "Bordeaux", "Lille", "Nantes")
        ),
    ),
    (
        "NL",
        0.09,
        "nl",
        "nl-NL",
        "+31",
        tuple(
            (c, "Europe/Amsterdam")
            for c in ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven")
        ),
    ),
    (
        "ES",
        0.08,
        "es",
        "es-ES",
        "+34",
        (
            ("Madrid", "Europe/Madrid"),
            ("Barcelona", "Europe/Madrid"),
            ("Valencia", "Europe/Madrid"),
            ("Sevilla", "Europe/Madrid"),
            ("Las Palmas de Gran Canaria", "Atlantic/Canary"),
        ),
    ),
    (
        "IT",
        0.08,
        "it",
        "it-IT",
        "+39",
        tuple(
            (c, "Europe/Rome") for c in ("Roma", "Milano", "Napoli", "Torino", "Bologna", "Firenze")
        ),
    ),
    (
        "AT",
        0.07,
        "de",
        "de-AT",
        "+43",
        tuple((c, "Europe/Vienna") for c in ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck")),
    ),
    (
        "PL",
        0.06,
        "pl",
        "pl-PL",
        "+48",
        tuple((c, "Europe/Warsaw") for c in ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań")),
    ),
    (
        "GB",
        0.05,
        "en",
        "en-GB",
        "+44",
        tuple(
            (c, "Europe/London")
            for c in ("London", "Manchester", "Birmingham", "Edinburgh", "Bristol")
        ),
    ),
    (
        "BE",
        0.04,
        "nl",
        "nl-BE",
        "+32",
        tuple((c, "Europe/Brussels") for c in ("Brussel", "Antwerpen", "Gent", "Leuven")),
    ),
    (
        "CH",
        0.03,
        "de",
        "de-CH",
        "+41",
        tuple((c, "Europe/Zurich") for c in ("Zürich", "Basel", "Bern")),
    ),
    (
        "SE",
        0.02,
        "sv",
        "sv-SE",
        "+46",
        tuple((c, "Europe/Stockholm") for c in ("Stockholm", "Göteborg", "Malmö")),
    ),
    (
        "US",
        0.03,
        "en",
        "en-US",
        "+1",
        (
            ("New York", "America/New_York"),
            ("Boston", "America/New_York"),
            ("Chicago", "America/Chicago"),
            ("Los Angeles", "America/Los_Angeles"),
            ("Seattle", "America/Los_Angeles"),
        ),
    ),
    (
        "CA",
        0.01,
        "en",
        "en-CA",
        "+1",
        (("Toronto", "America/Toronto"), ("Vancouver", "America/Vancouver")),
    ),
    (
        "AU",
        0.01,
        "en",
        "en-AU",
        "+61",
        (("Sydney", "Australia/Sydney"), ("Melbourne", "Australia/Melbourne")),
    ),
)


_EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "post.example",
    "web.example",
)


@dataclass
class _People:
    """Customer records and the other per-person plans that only the main process needs."""

    rows: list[list[str]]  # customers.csv rows by actor index (customers only)
    signup_ms: np.ndarray
    erase_ms: np.ndarray  # -1 = no request
    erase_with_id: np.ndarray
    email_clean: list[str]  # lower-cased, trimmed
    email_crm: list[str]  # as the CRM exports it
    city_choices: list[tuple[tuple[str, str], ...]]
    phone_prefix: list[str]


def _plan_people(
    config: GeneratorConfig,
    rng: np.random.Generator,
    persona: np.ndarray,
    country: np.ndarray,
    city: list[int],
    signup_ms: np.ndarray,
    n_c: int,
) -> _People:
    gender_u = rng.random(n_c)
    name_u = rng.random((n_c, 3))
    age_sd = rng.normal(0, 1, size=n_c)
    bday = rng.integers(0, 365, size=n_c)
    email_variant = rng.random(n_c)
    domain = rng.integers(0, len(_EMAIL_DOMAINS), size=n_c)
    phone_digits = rng.integers(10_000_000, 99_999_999, size=n_c)
    phone_mid = rng.integers(150, 179, size=n_c)
    suffix = rng.integers(1, 99, size=n_c)
    used: set[str] = set()
    rows: list[list[str]] = []
    clean: list[str] = []
    crm: list[str] = []
    cities: list[tuple[tuple[str, str], ...]] = []
    prefixes: list[str] = []
    for i in range(n_c):
        c = _COUNTRIES[int(country[i])]
        females, males, lasts = _NAMES[c[2]]
        g = gender_u[i]
        gender = "f" if g < 0.47 else "m" if g < 0.93 else "x" if g < 0.95 else ""
        female = gender == "f" or (gender in ("x", "") and name_u[i, 2] < 0.5)
        firsts = females if female else males
        first = firsts[int(name_u[i, 0] * len(firsts))]
        last = lasts[int(name_u[i, 1] * len(lasts))]
        local = f"{_ascii(first)}.{_ascii(last)}".lower().replace(" ", "").replace("'", "")
        email = f"{local}@{_EMAIL_DOMAINS[domain[i]]}"
        k = int(suffix[i])
        while email in used:
            email = f"{local}{k}@{_EMAIL_DOMAINS[domain[i]]}"
            k += 7
        used.add(email)
        v = email_variant[i]
        shown = email
        if v < 0.06:
            lp, _, dom = email.partition("@")
            shown = ".".join(p.capitalize() for p in lp.split(".")) + "@" + dom.capitalize()
        elif v < 0.09:
            shown = f"  {email} "
        elif v < 0.11:
            lp, _, dom = email.partition("@")
            shown = (
                "  "
                + ".".join(p.capitalize() for p in lp.split("."))
                + "@"
                + dom.capitalize()
                + " "
            )
        elif v < 0.12:
            shown = email.upper()
        mean, sd = _PERSONA_PARAMS[int(persona[i])].age
        age = int(np.clip(round(mean + sd * age_sd[i]), 18, 88))
        birth = dt.date(config.start.year - age - 1, 1, 1) + dt.timedelta(days=int(bday[i]))
        cty, tzname = c[5][city[i]]
        phone = f"{c[4]} {phone_mid[i]} {phone_digits[i]}"
        created = _iso_seconds(int(signup_ms[i])) if signup_ms[i] >= 0 else ""
        rows.append(
            [
                "",
                shown,
                first,
                last,
                gender,
                birth.isoformat(),
                c[0],
                cty,
                tzname,
                phone,
                created,
                created,
            ]
        )
        clean.append(email)
        crm.append(shown)
        cities.append(c[5])
        prefixes.append(c[4])
    return _People(
        rows=rows,
        signup_ms=signup_ms,
        erase_ms=np.zeros(0, dtype=np.int64),
        erase_with_id=np.zeros(0, dtype=bool),
        email_clean=clean,
        email_crm=crm,
        city_choices=cities,
        phone_prefix=prefixes,
    )
