#!/usr/bin/python
# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copyright: (c) 2026, nhi.lifecycle contributors

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_iam_user
short_description: Create, suspend and remove the IAM users that non-human identities run as
version_added: 0.1.0
description:
  - Manages an IAM user with its path, tags (owner, purpose, managed-by), managed policies and inline policies.
  - C(disabled) suspends the user without deleting it; C(absent) removes everything attached to the user in order,
    then the user.
  - Takes one target, or a batch in I(targets) worked through by a bounded pool of workers.
author:
  - nhi.lifecycle contributors (@nhi-lifecycle)
extends_documentation_fragment:
  - action_common_attributes
  - nhi.lifecycle.aws
  - nhi.lifecycle.batch
attributes:
  platform:
    support: full
    platforms: posix
  check_mode:
    support: full
    description: Reports what would change and changes nothing.
  diff_mode:
    support: full
    description: Shows path, tags and policies before and after.
options:
  user_name:
    description: The IAM user name. Required, here or in each item of I(targets).
    type: str
  state:
    description:
      - C(present) creates or updates the user.
      - C(disabled) suspends it. It attaches the inline deny-all policy C(nhi-suspended), deactivates its access keys,
        removes its console password and tags it C(nhi:state=suspended). C(present) lifts the suspension.
      - C(absent) removes, in order, access keys, the console password, MFA devices, SSH public keys, signing
        certificates, service-specific credentials, inline policies, managed policies, group memberships and the
        permissions boundary, then the user. A user that is already gone is not a change.
    type: str
    choices: [present, disabled, absent]
    default: present
  path:
    description: The IAM path. Used when the user is created; IAM cannot move an existing user between paths.
    type: str
    default: /
  tags:
    description: Tags to set. Tags that the collection manages (C(managed-by), C(nhi:*)) are added to these.
    type: dict
  purge_tags:
    description:
      - Remove tags that are not in I(tags) (the collection's own tags are kept).
      - Only when I(tags) is given. Without I(tags) the user's other tags are left as they are, so that
        suspending a user (I(state=disabled)) does not strip its owner.
    type: bool
    default: true
  managed_policies:
    description: ARNs of managed policies to attach.
    type: list
    elements: str
  inline_policies:
    description: Inline policies, name to policy document (a dict or a JSON string).
    type: dict
  purge_policies:
    description: Detach managed policies and delete inline policies that are not listed.
    type: bool
    default: true
notes:
  - moto and some partitions do not implement C(ListServiceSpecificCredentials); that step is skipped when the
    call is not implemented.
seealso:
  - module: nhi.lifecycle.aws_iam_user_info
  - module: nhi.lifecycle.aws_access_key
"""

EXAMPLES = r"""
- name: A CI deployer, tagged with its owner
  nhi.lifecycle.aws_iam_user:
    user_name: ci-deployer
    path: /nhi/
    tags: {owner: team-platform, purpose: CI deploys}
    managed_policies:
      - arn:aws:iam::123456789012:policy/deployer
    inline_policies:
      read-artifacts:
        Version: "2012-10-17"
        Statement:
          - {Effect: Allow, Action: "s3:GetObject", Resource: "arn:aws:s3:::artifacts/*"}

- name: Suspend it
  nhi.lifecycle.aws_iam_user:
    user_name: ci-deployer
    state: disabled

- name: Remove it and everything attached to it
  nhi.lifecycle.aws_iam_user:
    user_name: ci-deployer
    state: absent
"""

RETURN = r"""
user:
  description: The user afterwards (nothing when absent).
  returned: success
  type: dict
  sample: {"user_name": "ci-deployer", "arn": "arn:aws:iam::123456789012:user/nhi/ci-deployer", "path": "/nhi/",
           "tags": {"owner": "team-platform"}, "managed_policies": [], "inline_policies": ["read-artifacts"],
           "permissions_boundary": null, "suspended": false}
action:
  description: C(created), C(updated), C(suspended), C(deleted) or C(unchanged).
  returned: success
  type: str
  sample: created
evidence:
  description: One entry per step. See the evidence guide.
  returned: always
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "step": "create_identity", "system": "aws_iam", "outcome": "changed"}]
results:
  description: One result per target (batch form).
  returned: when targets is given
  type: list
  elements: dict
  sample: [{"identity": "ci-deployer", "changed": true, "action": "created"}]
summary:
  description: Counts for the batch.
  returned: when targets is given
  type: dict
  sample: {"total": 1, "changed": 1, "failed": 0}
failed_identities:
  description: The identities whose target failed (batch form).
  returned: when targets is given
  type: list
  elements: str
  sample: []
"""

import copy
import json

from ansible_collections.nhi.lifecycle.plugins.module_utils import _aws
from ansible_collections.nhi.lifecycle.plugins.module_utils._common import NHIError, NotFound
from ansible_collections.nhi.lifecycle.plugins.module_utils._module import NHIModule, Recorder

SUSPEND_POLICY = _aws.SUSPEND_POLICY
DENY_ALL = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Sid": "NhiSuspended", "Effect": "Deny", "Action": "*", "Resource": "*"}]},
                      sort_keys=True)
OWN_TAGS = ("managed-by", "nhi:state", "nhi:identity")


def _add(names, name):
    if name not in names:
        names.append(name)
        names.sort()


def _drop(names, name):
    if name in names:
        names.remove(name)


def _doc(value):
    if isinstance(value, str):
        return json.loads(value)
    return value


def _same_doc(a, b):
    return json.dumps(_doc(a), sort_keys=True) == json.dumps(_doc(b), sort_keys=True)


class Users(object):
    def __init__(self, nm, aws):
        self.nm = nm
        self.aws = aws
        self.iam = aws.iam

    def call(self, what, fn, **kwargs):
        try:
            return fn(**kwargs)
        except Exception as exc:
            raise _aws.translate(exc, what)

    def read(self, name):
        return _aws.read_user(self.iam, name)

    def process(self, t):
        rec = Recorder(t, self.nm.check_mode)
        result = {"identity": t["identity"], "changed": False}
        try:
            before = self.read(t["user_name"])
            if t["state"] == "absent":
                action = self.remove(t, rec, before)
                # The one read that shows the deletion took: GetUser now fails.
                after = before if self.nm.check_mode or action == "unchanged" else self.read(t["user_name"])
            else:
                # ensure() applies each write it makes to a copy of before, so
                # the user afterwards needs no second read (three IAM calls).
                after = copy.deepcopy(before) if before is not None else None
                action, after = self.ensure(t, rec, before, after)
                if self.nm.check_mode:
                    after = before
            result.update(action=action, changed=action != "unchanged", user=after)
            if self.nm.diff_mode:
                result["diff"] = {"before": before or {}, "after": after or {},
                                  "before_header": "iam user %s" % t["user_name"],
                                  "after_header": "iam user %s" % t["user_name"]}
        except NHIError as exc:
            result.update(failed=True, msg=str(exc))
        result["_evidence"] = rec.entries
        return result

    def wanted_tags(self, t):
        tags = dict(t.get("tags") or {})
        tags["managed-by"] = "nhi.lifecycle"
        tags["nhi:identity"] = t["identity"]
        tags["nhi:state"] = "suspended" if t["state"] == "disabled" else "active"
        return {str(k): str(v) for k, v in tags.items()}

    def ensure(self, t, rec, before, after):
        """Create or update the user; return (action, the user after the writes)."""
        name = t["user_name"]
        target = "user/%s" % name
        changed = False
        tags = self.wanted_tags(t)
        if before is None and t["state"] == "disabled":
            # Suspending a user that does not exist must not create it.
            rec.add("suspend", "aws_iam", "iam:GetUser", target, "unchanged", details={"reason": "user does not exist"})
            return "unchanged", None
        if before is None:
            with rec.step("create_identity", "aws_iam", "iam:CreateUser", target, details={"path": t["path"]}):
                made = {}
                if not self.nm.check_mode:
                    made = self.call("creating IAM user %r" % name, self.iam.create_user, UserName=name,
                                     Path=t["path"], Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])
                    made = made.get("User") or {}
            before = {"tags": tags, "managed_policies": [], "inline_policies": [], "suspended": False}
            after = _aws.user_view(made, name, dict(tags), [], [])
            created = True
        else:
            created = False
            add = {k: v for k, v in tags.items() if before["tags"].get(k) != v}
            purge = t["purge_tags"] and t.get("tags") is not None
            drop = [k for k in before["tags"] if k not in tags and (purge or k in OWN_TAGS)]
            if add or drop:
                with rec.step("update_identity", "aws_iam", "iam:TagUser", target,
                              details={"tags_set": sorted(add), "tags_removed": sorted(drop)}):
                    if not self.nm.check_mode:
                        if add:
                            self.call("tagging %r" % name, self.iam.tag_user, UserName=name,
                                      Tags=[{"Key": k, "Value": v} for k, v in sorted(add.items())])
                        if drop:
                            self.call("untagging %r" % name, self.iam.untag_user, UserName=name, TagKeys=drop)
                after["tags"].update(add)
                for key in drop:
                    after["tags"].pop(key, None)
                changed = True
        changed |= self.sync_policies(t, rec, before, after)
        if t["state"] == "disabled":
            changed |= self.suspend(t, rec, before, after)
        elif SUSPEND_POLICY in (before.get("inline_policies") or []):
            with rec.step("update_identity", "aws_iam", "iam:DeleteUserPolicy", target,
                          details={"policy": SUSPEND_POLICY, "reason": "suspension lifted"}):
                if not self.nm.check_mode:
                    self.call("lifting the suspension of %r" % name, self.iam.delete_user_policy, UserName=name,
                              PolicyName=SUSPEND_POLICY)
            _drop(after["inline_policies"], SUSPEND_POLICY)
            changed = True
        after["suspended"] = SUSPEND_POLICY in after["inline_policies"] or after["tags"].get("nhi:state") == "suspended"
        if created:
            return "created", after
        if t["state"] == "disabled" and changed:
            return "suspended", after
        return ("updated" if changed else "unchanged"), after

    def sync_policies(self, t, rec, before, after):
        name = t["user_name"]
        target = "user/%s" % name
        changed = False
        if t.get("managed_policies") is not None:
            wanted = set(t["managed_policies"])
            have = set(before.get("managed_policies") or [])
            for arn in sorted(wanted - have):
                with rec.step("update_identity", "aws_iam", "iam:AttachUserPolicy", target, details={"policy": arn}):
                    if not self.nm.check_mode:
                        self.call("attaching %s to %r" % (arn, name), self.iam.attach_user_policy, UserName=name,
                                  PolicyArn=arn)
                _add(after["managed_policies"], arn)
                changed = True
            if t["purge_policies"]:
                for arn in sorted(have - wanted):
                    with rec.step("update_identity", "aws_iam", "iam:DetachUserPolicy", target,
                                  details={"policy": arn}):
                        if not self.nm.check_mode:
                            self.call("detaching %s from %r" % (arn, name), self.iam.detach_user_policy,
                                      UserName=name, PolicyArn=arn)
                    _drop(after["managed_policies"], arn)
                    changed = True
        if t.get("inline_policies") is not None:
            wanted = dict(t["inline_policies"])
            have = [p for p in (before.get("inline_policies") or []) if p != SUSPEND_POLICY]
            for pname, document in sorted(wanted.items()):
                current = None
                if pname in have:
                    current = self.call("reading inline policy %s" % pname, self.iam.get_user_policy,
                                        UserName=name, PolicyName=pname)["PolicyDocument"]
                    if isinstance(current, str):
                        current = json.loads(_unquote(current))
                if current is None or not _same_doc(current, document):
                    with rec.step("update_identity", "aws_iam", "iam:PutUserPolicy", target,
                                  details={"policy": pname}):
                        if not self.nm.check_mode:
                            self.call("writing inline policy %s of %r" % (pname, name), self.iam.put_user_policy,
                                      UserName=name, PolicyName=pname,
                                      PolicyDocument=json.dumps(_doc(document), sort_keys=True))
                    _add(after["inline_policies"], pname)
                    changed = True
            if t["purge_policies"]:
                for pname in sorted(set(have) - set(wanted)):
                    with rec.step("update_identity", "aws_iam", "iam:DeleteUserPolicy", target,
                                  details={"policy": pname}):
                        if not self.nm.check_mode:
                            self.call("deleting inline policy %s of %r" % (pname, name), self.iam.delete_user_policy,
                                      UserName=name, PolicyName=pname)
                    _drop(after["inline_policies"], pname)
                    changed = True
        return changed

    def suspend(self, t, rec, before, after):
        name = t["user_name"]
        target = "user/%s" % name
        changed = False
        # The deny-all policy is what suspends the user; the nhi:state tag only
        # says so. A user tagged suspended without the policy (removed by hand,
        # or a run stopped between the two writes) gets it back.
        if SUSPEND_POLICY not in (before.get("inline_policies") or []):
            with rec.step("suspend", "aws_iam", "iam:PutUserPolicy", target, details={"policy": SUSPEND_POLICY}):
                if not self.nm.check_mode:
                    self.call("suspending %r" % name, self.iam.put_user_policy, UserName=name,
                              PolicyName=SUSPEND_POLICY, PolicyDocument=DENY_ALL)
            _add(after["inline_policies"], SUSPEND_POLICY)
            changed = True
        if self.nm.check_mode and before.get("arn") is None:
            return changed
        for key in self.call("listing keys", self.iam.list_access_keys, UserName=name).get("AccessKeyMetadata", []):
            if key.get("Status") == "Active":
                with rec.step("suspend", "aws_iam", "iam:UpdateAccessKey", "%s#%s" % (target, key["AccessKeyId"]),
                              details={"key_id": key["AccessKeyId"], "status": "Inactive"}):
                    if not self.nm.check_mode:
                        self.call("deactivating key %s" % key["AccessKeyId"], self.iam.update_access_key,
                                  UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
                changed = True
        changed |= self._drop_login_profile(rec, name, step="suspend")
        return changed

    def _drop_login_profile(self, rec, name, step):
        try:
            self.iam.get_login_profile(UserName=name)
        except Exception as exc:
            err = _aws.translate(exc, "reading the console password of %r" % name)
            if isinstance(err, NotFound):
                return False
            raise err
        with rec.step(step, "aws_iam", "iam:DeleteLoginProfile", "user/%s" % name):
            if not self.nm.check_mode:
                self._gone_ok("deleting the console password of %r" % name, self.iam.delete_login_profile,
                              UserName=name)
        return True

    def _gone_ok(self, what, fn, **kwargs):
        try:
            fn(**kwargs)
        except Exception as exc:
            err = _aws.translate(exc, what)
            if not isinstance(err, NotFound):
                raise err

    def remove(self, t, rec, before):
        name = t["user_name"]
        target = "user/%s" % name
        if before is None:
            return "unchanged"
        iam = self.iam
        check = self.nm.check_mode
        for key in self.call("listing keys", iam.list_access_keys, UserName=name).get("AccessKeyMetadata", []):
            with rec.step("revoke", "aws_iam", "iam:DeleteAccessKey", "%s#%s" % (target, key["AccessKeyId"]),
                          details={"key_id": key["AccessKeyId"]}):
                if not check:
                    self._gone_ok("deleting key", iam.delete_access_key, UserName=name, AccessKeyId=key["AccessKeyId"])
        self._drop_login_profile(rec, name, step="revoke")
        for mfa in self.call("listing MFA devices", iam.list_mfa_devices, UserName=name).get("MFADevices", []):
            with rec.step("revoke", "aws_iam", "iam:DeactivateMFADevice", target,
                          details={"serial": mfa["SerialNumber"]}):
                if not check:
                    self._gone_ok("deactivating MFA", iam.deactivate_mfa_device, UserName=name,
                                  SerialNumber=mfa["SerialNumber"])
                    if ":mfa/" in mfa["SerialNumber"]:
                        self._gone_ok("deleting virtual MFA", iam.delete_virtual_mfa_device,
                                      SerialNumber=mfa["SerialNumber"])
        for ssh in self.call("listing SSH keys", iam.list_ssh_public_keys, UserName=name).get("SSHPublicKeys", []):
            with rec.step("revoke", "aws_iam", "iam:DeleteSSHPublicKey", target,
                          details={"ssh_key_id": ssh["SSHPublicKeyId"]}):
                if not check:
                    self._gone_ok("deleting SSH key", iam.delete_ssh_public_key, UserName=name,
                                  SSHPublicKeyId=ssh["SSHPublicKeyId"])
        for cert in self.call("listing signing certificates", iam.list_signing_certificates,
                              UserName=name).get("Certificates", []):
            with rec.step("revoke", "aws_iam", "iam:DeleteSigningCertificate", target,
                          details={"certificate_id": cert["CertificateId"]}):
                if not check:
                    self._gone_ok("deleting signing certificate", iam.delete_signing_certificate, UserName=name,
                                  CertificateId=cert["CertificateId"])
        try:
            creds = iam.list_service_specific_credentials(UserName=name).get("ServiceSpecificCredentials", [])
        except Exception as exc:
            if not _aws.is_not_implemented(exc):
                raise _aws.translate(exc, "listing service-specific credentials of %r" % name)
            creds = []
            rec.add("revoke", "aws_iam", "iam:ListServiceSpecificCredentials", target, "skipped",
                    details={"reason": "not implemented by this endpoint"})
        for cred in creds:
            with rec.step("revoke", "aws_iam", "iam:DeleteServiceSpecificCredential", target,
                          details={"credential_id": cred["ServiceSpecificCredentialId"]}):
                if not check:
                    self._gone_ok("deleting service-specific credential", iam.delete_service_specific_credential,
                                  UserName=name, ServiceSpecificCredentialId=cred["ServiceSpecificCredentialId"])
        for pname in before.get("inline_policies") or []:
            with rec.step("update_identity", "aws_iam", "iam:DeleteUserPolicy", target, details={"policy": pname}):
                if not check:
                    self._gone_ok("deleting inline policy", iam.delete_user_policy, UserName=name, PolicyName=pname)
        for arn in before.get("managed_policies") or []:
            with rec.step("update_identity", "aws_iam", "iam:DetachUserPolicy", target, details={"policy": arn}):
                if not check:
                    self._gone_ok("detaching policy", iam.detach_user_policy, UserName=name, PolicyArn=arn)
        for group in self.call("listing groups", iam.list_groups_for_user, UserName=name).get("Groups", []):
            with rec.step("update_identity", "aws_iam", "iam:RemoveUserFromGroup", target,
                          details={"group": group["GroupName"]}):
                if not check:
                    self._gone_ok("leaving group", iam.remove_user_from_group, UserName=name,
                                  GroupName=group["GroupName"])
        if before.get("permissions_boundary"):
            with rec.step("update_identity", "aws_iam", "iam:DeleteUserPermissionsBoundary", target):
                if not check:
                    self._gone_ok("removing the permissions boundary", iam.delete_user_permissions_boundary,
                                  UserName=name)
        with rec.step("delete_identity", "aws_iam", "iam:DeleteUser", target):
            if not check:
                self._gone_ok("deleting IAM user %r" % name, iam.delete_user, UserName=name)
        return "deleted"


def _unquote(text):
    try:
        from urllib.parse import unquote
    except ImportError:  # pragma: no cover
        return text
    return unquote(text)


def _validate(target):
    _aws.check_user_name(target["user_name"])
    path = target["path"]
    if not (path.startswith("/") and path.endswith("/")) or len(path) > 512:
        raise NHIError("IAM path %r must start and end with '/'" % path, where="path", hint="for example /nhi/")
    for pname, doc in (target.get("inline_policies") or {}).items():
        if pname == SUSPEND_POLICY:
            raise NHIError("the inline policy name %r is reserved: it is the deny-all policy of a suspension"
                           % SUSPEND_POLICY, where="inline_policies.%s" % pname, hint="choose another name")
        try:
            parsed = _doc(doc)
        except (ValueError, RecursionError) as exc:
            raise NHIError("inline policy %r is not valid JSON (%s)" % (pname, exc), where="inline_policies.%s" % pname)
        if not isinstance(parsed, dict) or "Statement" not in parsed:
            raise NHIError("inline policy %r has no Statement" % pname, where="inline_policies.%s" % pname,
                           hint="give a policy document with Version and Statement")
    for arn in target.get("managed_policies") or []:
        if not str(arn).startswith("arn:"):
            raise NHIError("%r is not a policy ARN" % arn, where="managed_policies",
                           hint="use arn:aws:iam::<account>:policy/<name>")


def main():
    nm = NHIModule(
        target_spec=dict(
            user_name=dict(type="str", required=True),
            state=dict(type="str", default="present", choices=["present", "disabled", "absent"]),
            path=dict(type="str", default="/"),
            tags=dict(type="dict"),
            purge_tags=dict(type="bool", default=True),
            managed_policies=dict(type="list", elements="str"),
            inline_policies=dict(type="dict"),
            purge_policies=dict(type="bool", default=True),
        ),
        connection_specs=(_aws.argument_spec(),),
        validate=_validate,
        default_identity=lambda t: t["user_name"],
    )
    try:
        aws = _aws.client(nm.params, pool_size=nm.params["workers"])
        aws.caller_identity()
    except NHIError as exc:
        nm.fail_connect(exc)
    nm.exit(nm.run(Users(nm, aws).process))


if __name__ == "__main__":
    main()
