#!/usr/bin/python3
"""Independent GSSAPI / NTLM SMTP AUTH client, to check the test servers by hand.

    gss_smtp_auth.py ENV_FILE PORT_KEY gssapi SERVICE@HOST [STARTTLS]
    gss_smtp_auth.py ENV_FILE PORT_KEY ntlm NTLM_USER_FILE_KEY [STARTTLS]

Uses Debian's python3-gssapi (MIT krb5 and gss-ntlmssp underneath), so it is a second
opinion next to smtpcm's own client. Prints the final AUTH reply; exits 0 on 235.
"""
import base64
import os
import smtplib
import ssl
import sys

import gssapi

NTLMSSP_OID = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")


def read_env(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    return values


def main():
    env_path, port_key, mech, arg = sys.argv[1:5]
    starttls = len(sys.argv) > 5 and sys.argv[5] == "STARTTLS"
    env = read_env(env_path)
    os.environ["KRB5_CONFIG"] = env["KRB5_CONFIG"]
    os.environ["KRB5CCNAME"] = env["KRB5CCNAME"]

    smtp = smtplib.SMTP(env["SMTPCM_TEST_HOST"], int(env[port_key]), timeout=10)
    smtp.ehlo()
    if starttls:
        smtp.starttls(context=ssl.create_default_context(cafile=env["TLS_CA_FILE"]))
        smtp.ehlo()

    if mech == "gssapi":
        target = gssapi.Name(arg, gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=target, usage="initiate")
        sasl_name = "GSSAPI"
    else:
        os.environ["NTLM_USER_FILE"] = env[arg]
        user = gssapi.Name(f"{env['NTLM_DOMAIN']}\\{env['SASL_USER']}", gssapi.NameType.user)
        creds = gssapi.Credentials(name=user, mechs=[NTLMSSP_OID], usage="initiate")
        target = gssapi.Name("smtp@localhost", gssapi.NameType.hostbased_service)
        ctx = gssapi.SecurityContext(name=target, mech=NTLMSSP_OID, creds=creds, usage="initiate")
        sasl_name = "NTLM"

    code, reply = smtp.docmd("AUTH", f"{sasl_name} {base64.b64encode(ctx.step()).decode()}")
    while code == 334 and not ctx.complete:
        token = ctx.step(base64.b64decode(reply)) or b""
        code, reply = smtp.docmd(base64.b64encode(token).decode())
    if code == 334 and mech == "gssapi":
        # RFC 4752 security-layer negotiation: accept "no layer", max buffer 0.
        ctx.unwrap(base64.b64decode(reply))
        answer = ctx.wrap(b"\x01\x00\x00\x00", False).message
        code, reply = smtp.docmd(base64.b64encode(answer).decode())
    print(code, reply.decode(errors="replace"))
    smtp.quit()
    return 0 if code == 235 else 1


if __name__ == "__main__":
    sys.exit(main())
