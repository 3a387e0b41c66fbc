"""Devices: user agents, IP ranges, each person's one or two devices, how each identifies itself,
and the constant part of the Segment ``context`` per device.
"""

from __future__ import annotations

import numpy as np

from tailor.synthetic.common import _choice_by_group, _rng, _uuid4_list
from tailor.synthetic.config import GeneratorConfig
from tailor.synthetic.personas import (
    _PERSONA_PARAMS,
    _VISITOR,
    _WINDOW,
)
from tailor.synthetic.population import _COUNTRIES

_IP_FIRST_OCTETS = (
    31,
    37,
    46,
    62,
    77,
    78,
    79,
    80,
    81,
    82,
    84,
    85,
    87,
    88,
    89,
    90,
    91,
    93,
    94,
    95,
    109,
    176,
    178,
    185,
    188,
    212,
    213,
    217,
)


_DESKTOP, _MOBILE, _TABLET = 0, 1, 2


_DEVICE_TYPES = ("desktop", "mobile", "tablet")


# device type -> ((os, browser, weight, user agent template), ...); {v} is a version number
_USER_AGENTS = (
    (
        (
            "Windows",
            "Chrome",
            0.45,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
        (
            "Windows",
            "Edge",
            0.15,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
        ),
        (
            "Windows",
            "Firefox",
            0.12,
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
        ),
        (
            "macOS",
            "Safari",
            0.16,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Safari/605.1.15",
        ),
        (
            "macOS",
            "Chrome",
            0.12,
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
    ),
    (
        (
            "iOS",
            "Mobile Safari",
            0.45,
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Mobile/15E148 Safari/604.1",
        ),
        (
            "Android",
            "Chrome Mobile",
            0.50,
            "Mozilla/5.0 (Linux; Android 14; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36",
        ),
        (
            "Android",
            "Samsung Internet",
            0.05,
            "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/27.0 Chrome/{v}.0.0.0 Mobile Safari/537.36",
        ),
    ),
    (
        (
            "iPadOS",
            "Mobile Safari",
            0.65,
            "Mozilla/5.0 (iPad; CPU OS 18_{m} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.{m} Mobile/15E148 Safari/604.1",
        ),
        (
            "Android",
            "Chrome",
            0.35,
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 Safari/537.36",
        ),
    ),
)


_APP_USER_AGENTS = {
    "iOS": "TailorShop/4.{m}.0 (iPhone; iOS 18.{m}; Scale/3.00)",
    "Android": "TailorShop/4.{m}.0 (Linux; Android 14; Pixel 8)",
}


# session identity actions
_ID_NONE, _ID_LOGIN, _ID_SIGNUP, _ID_EMAIL = 0, 1, 2, 3


# device identity modes
_MODE_NONE, _MODE_LOGIN, _MODE_EMAIL = 0, 1, 2


# event kinds (decide which dirt an event can carry)
_K_PLAIN, _K_PRICED, _K_VIEWED, _K_CRITICAL = 0, 1, 2, 3


def _plan_devices(
    rng: np.random.Generator, persona: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Devices: one, or two for a quarter of customers. Returns each device's actor, type,
    identity mode and app flag; a person's devices are consecutive, the first is primary."""
    n_a = len(persona)
    P = _PERSONA_PARAMS
    n_dev = np.where(persona == _VISITOR, 1, 1 + (rng.random(n_a) < 0.25)).astype(np.int64)
    dev_first = np.concatenate([[0], np.cumsum(n_dev)[:-1]])
    dev_actor = np.repeat(np.arange(n_a), n_dev)
    dev_rank = np.arange(len(dev_actor)) - dev_first[dev_actor]
    n_d = len(dev_actor)
    dev_probs = np.array([P[p].device for p in range(7)])
    primary_type = _choice_by_group(rng, persona, dev_probs)
    dtype_arr = np.empty(n_d, dtype=np.int64)
    dtype_arr[dev_rank == 0] = primary_type
    sec = np.flatnonzero(dev_rank == 1)
    if len(sec):
        pt = primary_type[dev_actor[sec]]
        shift = 1 + (rng.random(len(sec)) < 0.5)
        dtype_arr[sec] = (pt + shift) % 3
    dev_mode = np.full(n_d, _MODE_LOGIN, dtype=np.int64)
    dev_mode[persona[dev_actor] == _VISITOR] = _MODE_NONE
    prim_window = (dev_rank == 0) & (persona[dev_actor] == _WINDOW)
    dev_mode[prim_window & (rng.random(n_d) < 0.3)] = _MODE_EMAIL
    u_sec = rng.random(n_d)
    dev_mode[(dev_rank == 1) & (u_sec < 0.35)] = _MODE_EMAIL
    dev_mode[(dev_rank == 1) & (u_sec >= 0.35) & (u_sec < 0.45)] = _MODE_NONE
    dev_app = (dtype_arr == _MOBILE) & (rng.random(n_d) < 0.35)
    return dev_actor, dtype_arr, dev_mode, dev_app


def _device_contexts(
    config: GeneratorConfig,
    dtype_arr: np.ndarray,
    dev_app: np.ndarray,
    dev_actor: np.ndarray,
    country: np.ndarray,
    tz: np.ndarray,
    tz_names: list[str],
) -> tuple[list[str], list[dict]]:
    """An anonymousId and the constant part of the Segment ``context`` for each device."""
    n_d = len(dtype_arr)
    drng = _rng(config.seed, "devices")
    anon = _uuid4_list(drng, n_d)
    ua_pick_u = drng.random(n_d)
    versions = drng.integers(128, 142, size=n_d)
    minor = drng.integers(0, 7, size=n_d)
    ips = drng.integers(1, 255, size=(n_d, 3))
    first_octet = drng.integers(0, len(_IP_FIRST_OCTETS), size=n_d)
    contexts = []
    for d in range(n_d):
        t = int(dtype_arr[d])
        options = _USER_AGENTS[t]
        w = np.cumsum([o[2] for o in options])
        k = int(np.searchsorted(w / w[-1], ua_pick_u[d], side="right"))
        os_name, browser, _, tmpl = options[min(k, len(options) - 1)]
        if dev_app[d]:
            os_name = "iOS" if ua_pick_u[d] < 0.45 else "Android"
            browser = "Tailor Shop App"
            tmpl = _APP_USER_AGENTS[os_name]
        a = int(dev_actor[d])
        c = _COUNTRIES[int(country[a])]
        ctx = {
            "device": {"type": _DEVICE_TYPES[t]},
            "os": {"name": os_name},
            "browser": {"name": browser},
            "userAgent": tmpl.format(v=int(versions[d]), m=int(minor[d])),
            "locale": c[3],
            "timezone": tz_names[int(tz[a])],
            "ip": f"{_IP_FIRST_OCTETS[first_octet[d]]}.{ips[d, 0]}.{ips[d, 1]}.{ips[d, 2]}",
        }
        if dev_app[d]:
            ctx["app"] = {"name": "Tailor Shop", "version": f"4.{int(minor[d])}.0"}
        contexts.append(ctx)

    return anon, contexts
