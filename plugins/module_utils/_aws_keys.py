# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors
#
# This module_utils file is for internal use by the nhi.lifecycle collection
# only. Its interface may change without notice.
"""Read IAM access keys without secrets (shared by the info module and the lookup)."""

from __future__ import annotations

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NotFound, age_days, iso, utcnow


def read_keys(aws, user_name, include_last_used):
    """Return ``(exists, [key views])`` for an IAM user; never secrets."""
    try:
        keys = aws.iam.list_access_keys(UserName=user_name).get("AccessKeyMetadata", [])
    except Exception as exc:
        err = _aws.translate(exc, "listing the keys of %r" % user_name)
        if isinstance(err, NotFound):
            return False, []
        raise err
    now = utcnow()
    views = []
    for key in keys:
        view = {"access_key_id": key["AccessKeyId"], "status": key.get("Status"),
                "created": iso(key["CreateDate"]) if key.get("CreateDate") else None,
                "age_days": age_days(key.get("CreateDate"), now) if key.get("CreateDate") else None}
        if include_last_used:
            try:
                used = aws.iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"]).get("AccessKeyLastUsed", {})
                view["last_used"] = iso(used["LastUsedDate"]) if used.get("LastUsedDate") else None
            except Exception as exc:
                raise _aws.translate(exc, "reading the last use of %s" % key["AccessKeyId"])
        views.append(view)
    return True, views
