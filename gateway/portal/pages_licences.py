"""Licence verification (电子证照核验): the page a licence's QR code opens, and a form to
verify by licence number. It shows what permits' public verification API concluded."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.portal.rendering import render
from gateway.portal.upstream import fetch

router = APIRouter()

# The limits of permits' GET /licences/verify; longer input could never verify.
LICENCE_MAX: Final = 40
TOKEN_MAX: Final = 8000

# Why a licence failed, as the verification API words it, for a reader.
REASONS: Final = {
    "bad_signature": "签名与本局公布的密钥不符，证照内容可能被篡改或伪造。",
    "unknown_key": "签名所用的密钥不是本局公布的密钥，证照可能是伪造的。",
    "retired_key": "签名所用的密钥已停用，请向发证机关核实。",
    "malformed": "二维码内容不是本局签发的电子证照，可能被篡改或伪造。",
    "unknown_licence": "本局没有签发过这张证照。",
    "not_yet_valid": "证照尚未到生效日期。",
    "expired": "证照已超过有效期。",
    "revoked": "发证机关已撤销该证照。",
    "suspended": "发证机关已暂停该证照的使用。",
}

# The verdict words and their tone on the page.
VERDICTS: Final = {
    "valid": ("有效", "ok"),
    "revoked": ("已撤销", "bad"),
    "suspended": ("已暂停", "warn"),
    "expired": ("已过期", "warn"),
    "invalid": ("伪造或无法识别", "bad"),
}


def _form_error(licence: str, token: str) -> str | None:
    if len(licence) > LICENCE_MAX:
        return f"证照编号最长{LICENCE_MAX}个字符，您输入了{len(licence)}个，请核对。"
    if len(token) > TOKEN_MAX:
        return "二维码内容过长，不是本局签发的电子证照。"
    return None


def _verdict(check: dict[str, Any]) -> dict[str, Any]:
    status = str(check.get("status") or "invalid")
    word, tone = VERDICTS.get(status, VERDICTS["invalid"])
    reason = str(check.get("reason") or "")
    shown: dict[str, Any] = {
        "status": status,
        "word": word,
        "tone": tone,
        "explanation": REASONS.get(reason, REASONS.get(status, "")),
        "kid": check.get("kid"),
        "checked_at": check.get("checked_at"),
        # A forged or unreadable credential's contents are not vouched for by anyone: they
        # are not shown, so a forgery cannot borrow the page's authority.
        "facts": None,
    }
    if status != "invalid":
        shown["facts"] = {
            key: check.get(key)
            for key in (
                "licence_number",
                "holder_name",
                "uscc",
                "item_name",
                "valid_from",
                "valid_until",
            )
        }
    return shown


@router.get("/licences/verify", include_in_schema=False)
async def verify_page(
    request: Request, licence: str | None = None, token: str | None = None
) -> Response:
    licence = (licence or "").strip()
    token = (token or "").strip()
    context: dict[str, Any] = {"licence": licence, "error": None, "result": None}
    if not licence and not token:
        return render(request, "licences/verify.html", context, max_age=3600)
    error = _form_error(licence, token)
    if error is not None:
        context["error"] = error
        return render(request, "licences/verify.html", context, status=400, max_age=0)
    params = {"token": token} if token else {"licence": licence}
    # 404: no licence has that number; 422: input permits refuses. Both mean "not ours".
    answer = await fetch(request, "permits", "/licences/verify", params, expect=(404, 422))
    if answer.status == 200 and isinstance(answer.body, dict):
        context["result"] = _verdict(answer.body)
        status = 200
    else:
        context["result"] = _verdict({"status": "invalid", "reason": "unknown_licence"})
        status = 404
    # Never cached: a revocation must show on the very next scan.
    return render(request, "licences/verify.html", context, status=status, max_age=0)
