"""One day of behaviour: the events and orders of the sessions (and phone orders) that start on a
day, as Segment calls and backend rows.
"""

from __future__ import annotations

from urllib.parse import quote_plus

import numpy as np

from tailor.synthetic.catalog import _TAXONOMY
from tailor.synthetic.common import _iso_seconds, _money, _rng
from tailor.synthetic.config import CURRENCY, MS_PER_DAY, MS_PER_HOUR, SITE
from tailor.synthetic.devices import (
    _ID_EMAIL,
    _ID_LOGIN,
    _ID_SIGNUP,
    _K_CRITICAL,
    _K_PLAIN,
    _K_PRICED,
    _K_VIEWED,
)
from tailor.synthetic.dirt import _DayOutput, _finish_day
from tailor.synthetic.personas import _CAMPAIGNS, _COUPONS, _PERSONA_ARR
from tailor.synthetic.population import _COUNTRIES
from tailor.synthetic.visits import _SESSION_SOFT_MAX_MS, _TILTS
from tailor.synthetic.world import _World


class _Sampler:
    """Draws products for a day: by category and price level, or by brand, Zipf-weighted."""

    def __init__(self, w: _World, day: int):
        avail = w.prod_listed & (w.prod_created_day <= day) & (w.prod_active_until > day)
        idx_all = np.flatnonzero(avail)
        pop = w.prod_pop
        rel = w.prod_price[:, day] / w.leaf_median[w.prod_leaf]
        self.fallback = (idx_all, np.cumsum(pop[idx_all]))
        self.tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in range(len(_TAXONOMY)):
            idx = idx_all[w.prod_cat[idx_all] == c]
            if not len(idx):
                continue
            for k, tilt in enumerate(_TILTS):
                self.tables[c * 3 + k] = (idx, np.cumsum(pop[idx] * rel[idx] ** tilt))
        for b in np.unique(w.prod_brand[idx_all]):
            idx = idx_all[w.prod_brand[idx_all] == b]
            self.tables[100 + int(b)] = (idx, np.cumsum(pop[idx]))
        self.leaf_top: dict[int, list[dict]] = {}
        leaves = w.prod_leaf[idx_all]
        for leaf in np.unique(leaves):
            idx = idx_all[leaves == leaf]
            top = idx[np.argsort(-pop[idx], kind="stable")[:4]]
            self.leaf_top[int(leaf)] = [
                {"product_id": w.prod_ids[p], "position": k + 1} for k, p in enumerate(top)
            ]

    def draw(self, keys: np.ndarray, u: np.ndarray) -> np.ndarray:
        out = np.empty(len(keys), dtype=np.int64)
        if not len(keys):
            return out
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        bounds = np.flatnonzero(np.diff(sk)) + 1
        for lo, hi in zip(
            np.concatenate([[0], bounds]), np.concatenate([bounds, [len(sk)]]), strict=True
        ):
            idx, cum = self.tables.get(int(sk[lo]), self.fallback)
            sel = order[lo:hi]
            pos = np.searchsorted(cum, u[sel] * cum[-1], side="right")
            out[sel] = idx[np.minimum(pos, len(idx) - 1)]
        return out


def _build_day(w: _World, day: int) -> _DayOutput:
    """Render the events and orders of the sessions (and phone orders) starting on ``day``."""
    cfg = w.config
    rng = _rng(cfg.seed, "day", day)
    sampler = _Sampler(w, day)
    lo, hi = (int(x) for x in np.searchsorted(w.s_day, [day, day + 1]))
    ns = hi - lo
    s_actor = w.s_actor[lo:hi]
    s_views = w.s_views[lo:hi]
    s_purchase = w.s_purchase[lo:hi]
    ph = np.flatnonzero(w.p_day == day)
    ph = ph[np.argsort(w.p_time[ph], kind="stable")]
    ph_items = 1 + rng.integers(0, 3, size=len(ph))

    # product picks for every view step of the day, then for phone orders
    v_actor = np.concatenate([np.repeat(s_actor, s_views), np.repeat(w.p_actor[ph], ph_items)])
    n_web = int(s_views.sum())
    nv_all = len(v_actor)
    v_persona = w.persona[v_actor]
    u = rng.random((nv_all, 6))
    second = (w.fav_cat[v_actor, 1] >= 0) & (u[:, 1] < 0.4)
    fav = w.fav_cat[v_actor, second.astype(np.int64)]
    glob = np.minimum(
        np.searchsorted(np.cumsum(w.cat_mass), u[:, 2], side="right"), len(_TAXONOMY) - 1
    )
    use_fav = u[:, 0] < _PERSONA_ARR["affinity"][v_persona]
    use_fav[n_web:] = True
    cat = np.where(use_fav, fav, glob)
    use_brand = use_fav & (u[:, 3] < 0.3)
    brand = w.fav_brand[v_actor, np.minimum((u[:, 4] * 3).astype(np.int64), 2)]
    pclass = _PERSONA_ARR["price_class"][v_persona].astype(np.int64)
    keys = np.where(use_brand, 100 + brand, cat * 3 + pclass)
    picks = sampler.draw(keys, u[:, 5]).tolist()
    f = rng.random((n_web, 5))
    purchase_v = np.repeat(s_purchase, s_views)
    search_f = (f[:, 0] < _PERSONA_ARR["search"][v_persona[:n_web]]).tolist()
    list_f = (f[:, 1] < 0.3).tolist()
    add_f = (
        f[:, 2] < _PERSONA_ARR["add"][v_persona[:n_web]] * np.where(purchase_v, 1.0, 0.5)
    ).tolist()
    remove_f = (f[:, 3] < 0.1).tolist()
    qty_v = (
        1
        + (f[:, 4] < _PERSONA_ARR["extra_qty"][v_persona[:n_web]]) * (1 + (rng.random(n_web) < 0.3))
    ).tolist()
    query_k = rng.integers(0, 3, size=n_web).tolist()
    su = rng.random((ns + len(ph), 8)).tolist()

    bound = 16 * ns + 7 * n_web + 8
    long_gaps = iter(
        np.clip(rng.lognormal(np.log(22_000), 0.85, size=bound), 1_500, 300_000)
        .astype(np.int64)
        .tolist()
    )
    short_gaps = iter(rng.integers(15, 900, size=bound).tolist())

    price_c = w.prod_price[:, day].tolist()
    price_eur = [c / 100 for c in price_c]
    pid, sku, title, ppath, pbrand, pslug = (
        w.prod_ids,
        w.prod_sku,
        w.prod_title,
        w.prod_path,
        w.prod_brand_name,
        w.prod_slug,
    )
    leaf_of = w.prod_leaf.tolist()
    persona_of = w.persona.tolist()
    coupon_rate = _PERSONA_ARR["coupon"].tolist()
    n_c = w.n_customers
    start_ms = w.window_start_ms

    evs: list[dict] = []
    times: list[int] = []
    kinds: list[int] = []
    sess_of: list[int] = []
    orders: list[tuple[int, int, int, list[str], list[list[str]]]] = []

    def product_props(p: int, q: int) -> dict:
        return {
            "product_id": pid[p],
            "sku": sku[p],
            "name": title[p],
            "category": ppath[p],
            "brand": pbrand[p],
            "price": price_eur[p],
            "currency": CURRENCY,
            "quantity": q,
        }

    def make_order(
        order_no: int, a: int, t: int, lines: list[tuple[int, int]], channel: str, r: list[float]
    ) -> dict:
        subtotal = sum(q * price_c[p] for p, q in lines)
        code, pct = "", 0
        persona = persona_of[a]
        if r[2] < coupon_rate[persona]:
            options = _COUPONS[persona]
            code, pct = options[int(r[3] * len(options))]
        discount = subtotal * pct // 100
        shipping = 0 if subtotal - discount >= 4_900 else 495
        total = subtotal - discount + shipping
        oid = f"O{order_no:08d}"
        ordered = _iso_seconds(t)
        status, updated = "completed", ordered
        if r[4] < 0.03:
            status = "cancelled"
            day_end = start_ms + ((t - start_ms) // MS_PER_DAY + 1) * MS_PER_DAY - 1_000
            updated = _iso_seconds(min(t + int(r[5] * 3 * MS_PER_HOUR) + 600_000, day_end))
        row = [
            oid,
            w.customer_ids[a],
            ordered,
            status,
            CURRENCY,
            _money(subtotal),
            _money(discount),
            _money(shipping),
            _money(total),
            code,
            channel,
            _COUNTRIES[int(w.country[a])][0],
            updated,
        ]
        items = []
        left = discount
        for k, (p, q) in enumerate(lines):
            line_total = q * price_c[p]
            share = left if k == len(lines) - 1 else discount * line_total // subtotal
            left -= share
            items.append(
                [
                    oid,
                    str(k + 1),
                    pid[p],
                    title[p],
                    str(q),
                    _money(price_c[p]),
                    _money(share),
                    CURRENCY,
                ]
            )
        o_day = (t - start_ms) // MS_PER_DAY
        orders.append((o_day, t, order_no, row, items))
        if r[4] >= 0.97:  # returned a few days later: the backend exports the changed order again
            back = o_day + 3 + int(r[6] * 7)
            t_back = start_ms + back * MS_PER_DAY + int(r[7] * 10 * MS_PER_HOUR) + 8 * MS_PER_HOUR
            upd = list(row)
            upd[3] = "returned"
            upd[12] = _iso_seconds(t_back)
            orders.append((back, t_back, order_no, upd, []))
        return {
            "order_id": oid,
            "checkout_id": f"chk_{order_no:08d}",
            "total": total / 100,
            "revenue": (subtotal - discount) / 100,
            "shipping": shipping / 100,
            "discount": discount / 100,
            "coupon": code or None,
            "currency": CURRENCY,
            "products": [
                {"product_id": pid[p], "quantity": q, "price": price_eur[p]} for p, q in lines
            ],
        }

    # state of the session being rendered, read by the emitters below
    s = 0
    anon: str = ""
    uid: str | None = None
    base: dict = {}
    ctx: dict = {}
    tctx: dict = {}
    referrer = ""
    campaign: dict | None = None

    def page(name: str, path: str, page_title: str, t: int) -> None:
        nonlocal ctx, tctx, referrer, campaign
        url = SITE + path
        pg = {"path": path, "referrer": referrer, "title": page_title, "url": url}
        tctx = {"page": pg, **base}
        ctx = tctx if campaign is None else {"page": pg, "campaign": campaign, **base}
        evs.append(
            {
                "messageId": None,
                "type": "page",
                "name": name,
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "properties": pg,
                "context": ctx,
            }
        )
        times.append(t)
        kinds.append(_K_PLAIN)
        sess_of.append(s)
        referrer = url
        campaign = None

    def track(event: str, props: dict, t: int, kind: int = _K_PLAIN) -> None:
        evs.append(
            {
                "messageId": None,
                "type": "track",
                "event": event,
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "properties": props,
                "context": tctx,
            }
        )
        times.append(t)
        kinds.append(kind)
        sess_of.append(s)

    def identify(traits: dict, t: int) -> None:
        evs.append(
            {
                "messageId": None,
                "type": "identify",
                "anonymousId": anon,
                "userId": uid,
                "timestamp": None,
                "sentAt": None,
                "receivedAt": None,
                "traits": traits,
                "context": tctx,
            }
        )
        times.append(t)
        kinds.append(_K_CRITICAL)
        sess_of.append(s)

    def pause(elapsed: int) -> int:
        """Think time before the next action; sessions that run long only send quick follow-ups."""
        g = next(long_gaps)
        return g if elapsed < _SESSION_SOFT_MAX_MS else 1_000 + g // 100

    def sign_in(t: int, ident: int, a: int) -> int:
        """Log in (or sign up): from the identify call on, events carry the userId."""
        nonlocal uid
        t += next(long_gaps)  # signing in happens early in a session
        if ident == _ID_SIGNUP:
            page("Sign Up", "/account/signup", "Create your account | Tailor Shop", t)
        else:
            page("Sign In", "/account/login", "Sign in | Tailor Shop", t)
        t += next(long_gaps)
        uid = w.customer_ids[a]
        identify({"email": w.email_clean[a], "first_name": w.first_names[a]}, t)
        t += next(short_gaps)
        track("Signed Up" if ident == _ID_SIGNUP else "Signed In", {"method": "email"}, t)
        return t

    vo = 0
    for s in range(ns):
        g = lo + s
        a = int(w.s_actor[g])
        dv = int(w.s_device[g])
        t = int(w.s_start[g])
        s0 = t
        nv = int(s_views[s])
        rs = su[s]
        purchase = bool(s_purchase[s])
        ident = int(w.s_ident[g])
        anon = w.dev_anon[dv]
        base = w.dev_context[dv]
        cid = w.customer_ids[a] if a < n_c else None
        uid = cid if w.s_known[g] else None
        camp_i = int(w.s_campaign[g])
        if camp_i >= 0:
            c_src, c_med, c_name, referrer, landing = _CAMPAIGNS[camp_i]
            campaign = {"source": c_src, "medium": c_med, "name": c_name}
        else:
            campaign, landing = None, 0
            referrer = "https://www.google.com/" if rs[5] < 0.35 else ""
        ctx = {}
        tctx = {}

        if landing == 0:
            page("Home", "/", "Tailor Shop", t)
        elif landing == 1:
            leaf = leaf_of[picks[vo]]
            page(
                "Category",
                f"/c/{w.leaf_slug[leaf]}",
                f"{w.leaf_path[leaf].split(' > ')[-1]} | Tailor Shop",
                t,
            )
        pending_ident = ident in (_ID_LOGIN, _ID_SIGNUP)
        cart: dict[int, int] = {}
        added: list[tuple[int, int]] = []
        for j in range(vo, vo + nv):
            p = picks[j]
            if pending_ident and (landing != 2 or j > vo):
                pending_ident = False
                t = sign_in(t, ident, a)
            if landing == 2 and j == vo:
                page("Product", f"/p/{pslug[p]}", f"{title[p]} | Tailor Shop", t)
            else:
                step = pause(t - s0)
                if search_f[j]:
                    query = w.prod_queries[p][query_k[j]]
                    t += step
                    track("Products Searched", {"query": query}, t)
                    t += next(short_gaps)
                    page(
                        "Search",
                        f"/search?q={quote_plus(query)}",
                        f"Search: {query} | Tailor Shop",
                        t,
                    )
                    step = pause(t - s0)
                elif list_f[j]:
                    leaf = leaf_of[p]
                    t += step
                    page(
                        "Category",
                        f"/c/{w.leaf_slug[leaf]}",
                        f"{w.leaf_path[leaf].split(' > ')[-1]} | Tailor Shop",
                        t,
                    )
                    t += next(short_gaps)
                    track(
                        "Product List Viewed",
                        {
                            "list_id": w.leaf_slug[leaf],
                            "category": w.leaf_path[leaf],
                            "products": sampler.leaf_top.get(leaf, []),
                        },
                        t,
                    )
                    step = pause(t - s0)
                t += step
                page("Product", f"/p/{pslug[p]}", f"{title[p]} | Tailor Shop", t)
            t += next(short_gaps)
            track("Product Viewed", product_props(p, 1), t, _K_VIEWED)
            if add_f[j]:
                q = qty_v[j]
                t += pause(t - s0) // 3 + 500
                track("Product Added", product_props(p, q), t, _K_PRICED)
                cart[p] = cart.get(p, 0) + q
                added.append((p, j))
        vo += nv
        if pending_ident:
            t = sign_in(t, ident, a)
        for p, j in added:
            if p in cart and remove_f[j] and (not purchase or len(cart) > 1):
                t += pause(t - s0) // 2
                track("Product Removed", product_props(p, cart.pop(p)), t, _K_PRICED)
        if purchase and not cart:
            p = picks[vo - 1]
            t += pause(t - s0) // 3 + 500
            track("Product Added", product_props(p, 1), t, _K_PRICED)
            cart[p] = 1
        if cart and (purchase or rs[0] < 0.5):
            lines = list(cart.items())
            listed = [
                {"product_id": pid[p], "quantity": q, "price": price_eur[p]} for p, q in lines
            ]
            value = sum(q * price_c[p] for p, q in lines) / 100
            t += pause(t - s0)
            page("Cart", "/cart", "Your cart | Tailor Shop", t)
            t += next(short_gaps)
            track(
                "Cart Viewed", {"cart_id": f"cart_{anon[:8]}_{s0 // 1000}", "products": listed}, t
            )
            if purchase or rs[1] < 0.35:
                order_no = int(w.s_order[g])
                t += pause(t - s0)
                page("Checkout", "/checkout", "Checkout | Tailor Shop", t)
                t += next(short_gaps)
                checkout_id = f"chk_{order_no:08d}" if purchase else f"chk_s{s0 // 1000}"
                track(
                    "Checkout Started",
                    {
                        "checkout_id": checkout_id,
                        "value": value,
                        "currency": CURRENCY,
                        "products": listed,
                    },
                    t,
                )
                if purchase:
                    t += pause(t - s0) + 20_000
                    channel = "app" if w.dev_app[dv] else "web"
                    props = make_order(order_no, a, t, lines, channel, rs)
                    track("Order Completed", props, t, _K_CRITICAL)
                    t += next(short_gaps)
                    page(
                        "Order Confirmation", "/checkout/confirmation", "Thank you | Tailor Shop", t
                    )
        if ident == _ID_EMAIL:
            t += pause(t - s0)
            page("Newsletter", "/newsletter", "Newsletter | Tailor Shop", t)
            t += pause(t - s0) // 2
            identify({"email": w.email_typed[a]}, t)

    # phone orders: backend only, no events
    po = n_web
    for k, i in enumerate(ph.tolist()):
        n_items = int(ph_items[k])
        basket: dict[int, int] = {}
        for p in picks[po : po + n_items]:
            basket[p] = basket.get(p, 0) + 1
        po += n_items
        make_order(
            int(w.p_order[i]),
            int(w.p_actor[i]),
            int(w.p_time[i]),
            list(basket.items()),
            "phone",
            su[ns + k],
        )

    return _finish_day(w, day, rng, evs, times, kinds, sess_of, orders)
