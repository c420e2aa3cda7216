//! `NTLM` (MS-NLMP NTLMv2, carried as in MS-SMTPNTLM).
//!
//! A small client written against the RustCrypto hashes rather than the `sspi` crate:
//! sspi would raise the MSRV above the workspace's (1.93 > 1.90) and pull release
//! candidates of `picky`/`rsa` for a protocol that is three messages and four hashes.
//! Only NTLMv2 is produced; NTLMv1 and LM are never sent. No session security is
//! negotiated (SMTP needs none after `235`), so there is no key exchange and no MIC.

use hmac::{Hmac, KeyInit, Mac};
use md4::{Digest, Md4};
use md5::Md5;
use secrecy::ExposeSecret;

use super::credentials::NtlmCredentials;
use super::{Mechanism, MechanismError, ServerInfo};

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

const NEGOTIATE_UNICODE: u32 = 0x0000_0001;
const NEGOTIATE_OEM: u32 = 0x0000_0002;
const REQUEST_TARGET: u32 = 0x0000_0004;
const NEGOTIATE_NTLM: u32 = 0x0000_0200;
const NEGOTIATE_ALWAYS_SIGN: u32 = 0x0000_8000;
const NEGOTIATE_EXTENDED_SESSIONSECURITY: u32 = 0x0008_0000;
const NEGOTIATE_TARGET_INFO: u32 = 0x0080_0000;
const NEGOTIATE_128: u32 = 0x2000_0000;
const NEGOTIATE_56: u32 = 0x8000_0000;

/// What we ask for in the NEGOTIATE message (no signing or sealing: SMTP needs neither).
const CLIENT_FLAGS: u32 = NEGOTIATE_UNICODE
    | NEGOTIATE_OEM
    | REQUEST_TARGET
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_128
    | NEGOTIATE_56;

/// `MsvAvTimestamp` in the target information (MS-NLMP 2.2.2.1).
const AV_TIMESTAMP: u16 = 7;
const AV_EOL: u16 = 0;

/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: u64 = 11_644_473_600;

/// The parts of a CHALLENGE message (MS-NLMP 2.2.1.2) an NTLMv2 client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// NegotiateFlags chosen by the server.
    pub flags: u32,
    /// The 8-byte ServerChallenge.
    pub server_challenge: [u8; 8],
    /// TargetInfo AV pairs, verbatim (empty when the server sent none).
    pub target_info: Vec<u8>,
}

impl Challenge {
    /// Parse a CHALLENGE message; the error says which field is wrong.
    pub fn parse(message: &[u8]) -> Result<Challenge, String> {
        if message.len() < 32 {
            return Err(format!(
                "CHALLENGE message is {} bytes, shorter than its 32-byte header",
                message.len()
            ));
        }
        if &message[..8] != SIGNATURE {
            return Err("message does not start with the NTLMSSP signature".into());
        }
        let message_type = read_u32(message, 8)?;
        if message_type != 2 {
            return Err(format!(
                "expected message type 2 (CHALLENGE), got {message_type}"
            ));
        }
        let flags = read_u32(message, 20)?;
        let mut server_challenge = [0u8; 8];
        server_challenge.copy_from_slice(&message[24..32]);
        // TargetInfoFields sit at offset 40; very old servers end the header before them.
        let target_info = if flags & NEGOTIATE_TARGET_INFO != 0 && message.len() >= 48 {
            let len = usize::from(read_u16(message, 40)?);
            let offset = read_u32(message, 44)? as usize;
            message
                .get(offset..offset.saturating_add(len))
                .ok_or_else(|| {
                    format!(
                        "TargetInfo field (offset {offset}, length {len}) runs past the {}-byte message",
                        message.len()
                    )
                })?
                .to_vec()
        } else {
            Vec::new()
        };
        Ok(Challenge {
            flags,
            server_challenge,
            target_info,
        })
    }

    /// The server's `MsvAvTimestamp`, if its target information has one.
    fn timestamp(&self) -> Option<[u8; 8]> {
        let mut rest = self.target_info.as_slice();
        while rest.len() >= 4 {
            let id = u16::from_le_bytes([rest[0], rest[1]]);
            let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
            let value = rest.get(4..4 + len)?;
            if id == AV_EOL {
                return None;
            }
            if id == AV_TIMESTAMP && len == 8 {
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(value);
                return Some(stamp);
            }
            rest = &rest[4 + len..];
        }
        None
    }
}

fn read_u16(message: &[u8], at: usize) -> Result<u16, String> {
    message
        .get(at..at + 2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]))
        .ok_or_else(|| format!("message ends before offset {at}"))
}

fn read_u32(message: &[u8], at: usize) -> Result<u32, String> {
    message
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| format!("message ends before offset {at}"))
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Md5> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// NTOWFv2 (MS-NLMP 3.3.2): `HMAC-MD5(MD4(UTF-16LE(password)), UTF-16LE(UPPER(user) + domain))`.
pub fn ntowf_v2(password: &str, user: &str, domain: &str) -> [u8; 16] {
    let nt_hash: [u8; 16] = Md4::digest(utf16le(password)).into();
    let identity = utf16le(&format!("{}{}", user.to_uppercase(), domain));
    hmac_md5(&nt_hash, &[&identity])
}

/// The NTLMv2 responses for one challenge (MS-NLMP 3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Responses {
    /// LmChallengeResponse (LMv2): 16-byte MAC followed by the client challenge.
    pub lm: Vec<u8>,
    /// NtChallengeResponse: NTProofStr followed by the `temp` blob.
    pub nt: Vec<u8>,
    /// SessionBaseKey.
    pub session_base_key: [u8; 16],
}

/// Compute the NTLMv2 responses from the response key, both challenges, the
/// FILETIME `time` and the server's target information.
pub fn v2_responses(
    response_key: &[u8; 16],
    server_challenge: &[u8; 8],
    client_challenge: &[u8; 8],
    time: &[u8; 8],
    target_info: &[u8],
) -> V2Responses {
    let mut temp = Vec::with_capacity(28 + target_info.len() + 4);
    temp.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    temp.extend_from_slice(time);
    temp.extend_from_slice(client_challenge);
    temp.extend_from_slice(&[0; 4]);
    temp.extend_from_slice(target_info);
    temp.extend_from_slice(&[0; 4]);
    let nt_proof = hmac_md5(response_key, &[server_challenge, &temp]);
    let mut nt = nt_proof.to_vec();
    nt.extend_from_slice(&temp);
    let mut lm = hmac_md5(response_key, &[server_challenge, client_challenge]).to_vec();
    lm.extend_from_slice(client_challenge);
    V2Responses {
        lm,
        nt,
        session_base_key: hmac_md5(response_key, &[&nt_proof]),
    }
}

/// The NEGOTIATE message (MS-NLMP 2.2.1.1), without domain or workstation.
pub fn negotiate_message() -> Vec<u8> {
    let mut message = Vec::with_capacity(32);
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&1u32.to_le_bytes());
    message.extend_from_slice(&CLIENT_FLAGS.to_le_bytes());
    // DomainNameFields and WorkstationFields: empty, offset just past the header.
    for _ in 0..2 {
        message.extend_from_slice(&0u16.to_le_bytes());
        message.extend_from_slice(&0u16.to_le_bytes());
        message.extend_from_slice(&32u32.to_le_bytes());
    }
    message
}

/// The AUTHENTICATE message (MS-NLMP 2.2.1.3) for `credentials`, answering `challenge`.
///
/// `client_challenge` must be random and `now` the current FILETIME; both are
/// parameters so the spec's test vectors can be reproduced.
pub fn authenticate_message(
    credentials: &NtlmCredentials,
    workstation: &str,
    challenge: &Challenge,
    client_challenge: &[u8; 8],
    now: &[u8; 8],
) -> Vec<u8> {
    let key = ntowf_v2(
        credentials.password.expose_secret(),
        &credentials.user,
        &credentials.domain,
    );
    // With a server timestamp, MS-NLMP 3.1.5.1.2 says to use it and send no LMv2.
    let (time, zero_lm) = match challenge.timestamp() {
        Some(stamp) => (stamp, true),
        None => (*now, false),
    };
    let responses = v2_responses(
        &key,
        &challenge.server_challenge,
        client_challenge,
        &time,
        &challenge.target_info,
    );
    let lm = if zero_lm { vec![0; 24] } else { responses.lm };
    let unicode = challenge.flags & NEGOTIATE_UNICODE != 0;
    let text = |s: &str| {
        if unicode {
            utf16le(s)
        } else {
            s.as_bytes().to_vec()
        }
    };
    let flags = (challenge.flags & CLIENT_FLAGS & !NEGOTIATE_OEM)
        | if unicode {
            NEGOTIATE_UNICODE
        } else {
            NEGOTIATE_OEM
        }
        | NEGOTIATE_NTLM;

    let payloads: [Vec<u8>; 6] = [
        lm,
        responses.nt,
        text(&credentials.domain),
        text(&credentials.user),
        text(workstation),
        Vec::new(), // EncryptedRandomSessionKey: no key exchange
    ];
    const HEADER: usize = 64;
    let mut message = Vec::with_capacity(HEADER + payloads.iter().map(Vec::len).sum::<usize>());
    message.extend_from_slice(SIGNATURE);
    message.extend_from_slice(&3u32.to_le_bytes());
    let mut offset = HEADER;
    for payload in &payloads {
        // Every field is well under 64 KiB: names are short and target info is a u16-sized copy.
        let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
        message.extend_from_slice(&len.to_le_bytes());
        message.extend_from_slice(&len.to_le_bytes());
        message.extend_from_slice(&(offset as u32).to_le_bytes());
        offset += payload.len();
    }
    message.extend_from_slice(&flags.to_le_bytes());
    for payload in &payloads {
        message.extend_from_slice(payload);
    }
    message
}

/// The current time as a little-endian FILETIME (100 ns ticks since 1601).
fn filetime_now() -> [u8; 8] {
    let since_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let ticks = (since_unix.as_secs() + FILETIME_UNIX_OFFSET_SECS) * 10_000_000
        + u64::from(since_unix.subsec_nanos() / 100);
    ticks.to_le_bytes()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Initial,
    SentNegotiate,
    SentAuthenticate,
}

/// SASL `NTLM` with explicit credentials: NEGOTIATE as the initial response, then
/// AUTHENTICATE in answer to the server's CHALLENGE.
///
/// ```
/// use smtpcm_engine::auth::{Mechanism, ServerInfo, ntlm::Ntlm, credentials::NtlmCredentials};
/// let mut m = Ntlm::new(NtlmCredentials::new("CORP", "alice", "pw".to_string().into()));
/// let negotiate = m.start(&ServerInfo::default()).unwrap().unwrap();
/// assert!(negotiate.starts_with(b"NTLMSSP\0\x01\0\0\0"));
/// assert_eq!(m.identity(), "CORP\\alice");
/// ```
#[derive(Debug)]
pub struct Ntlm {
    credentials: NtlmCredentials,
    workstation: String,
    state: State,
}

impl Ntlm {
    /// NTLM for `credentials`; the workstation name sent is this host's name.
    pub fn new(credentials: NtlmCredentials) -> Self {
        let workstation = gethostname::gethostname()
            .to_string_lossy()
            .split('.')
            .next()
            .unwrap_or("")
            .to_uppercase();
        Ntlm {
            credentials,
            workstation,
            state: State::Initial,
        }
    }
}

impl Mechanism for Ntlm {
    fn name(&self) -> &str {
        "NTLM"
    }

    fn identity(&self) -> String {
        self.credentials.qualified_user()
    }

    fn start(&mut self, _server: &ServerInfo) -> Result<Option<Vec<u8>>, MechanismError> {
        self.state = State::SentNegotiate;
        Ok(Some(negotiate_message()))
    }

    fn next(&mut self, challenge: &[u8]) -> Result<Vec<u8>, MechanismError> {
        let bad = |reason: String| MechanismError::BadChallenge {
            mechanism: "NTLM".into(),
            reason,
        };
        if self.state != State::SentNegotiate {
            return Err(bad(format!(
                "unexpected challenge after {}",
                if self.state == State::Initial {
                    "nothing was sent"
                } else {
                    "the AUTHENTICATE message"
                }
            )));
        }
        let challenge = Challenge::parse(challenge).map_err(bad)?;
        let mut client_challenge = [0u8; 8];
        getrandom::fill(&mut client_challenge).map_err(|err| MechanismError::Unavailable {
            mechanism: "NTLM".into(),
            reason: format!("no operating-system randomness for the client challenge: {err}"),
        })?;
        self.state = State::SentAuthenticate;
        Ok(authenticate_message(
            &self.credentials,
            &self.workstation,
            &challenge,
            &client_challenge,
            &filetime_now(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn unhex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    /// MS-NLMP 4.2.4.3: the CHALLENGE message of the NTLMv2 examples.
    const SPEC_CHALLENGE: &str = "4e544c4d53535000020000000c000c003800000033828ae2
        0123456789abcdef00000000000000002400240044000000060070170000000f
        53006500720076006500720002000c0044006f006d00610069006e0001000c00
        53006500720076006500720000000000";
    /// MS-NLMP 4.2.4: the target information inside it (NbDomainName, NbComputerName, EOL).
    const SPEC_TARGET_INFO: &str =
        "02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000";

    fn spec_credentials() -> NtlmCredentials {
        NtlmCredentials::new("Domain", "User", SecretString::from("Password"))
    }

    #[test]
    fn ntowfv2_matches_ms_nlmp_4_2_4_1_1() {
        assert_eq!(
            ntowf_v2("Password", "User", "Domain").to_vec(),
            unhex("0c868a403bfd7a93a3001ef22ef02e3f")
        );
    }

    #[test]
    fn v2_responses_match_ms_nlmp_4_2_4_2() {
        let key = ntowf_v2("Password", "User", "Domain");
        let r = v2_responses(
            &key,
            &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            &[0xaa; 8],
            &[0; 8],
            &unhex(SPEC_TARGET_INFO),
        );
        // 4.2.4.2.1 LMv2 Response
        assert_eq!(
            r.lm,
            unhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        // 4.2.4.2.2 NTLMv2 Response: NTProofStr then temp (4.2.4.1.3)
        assert_eq!(
            r.nt,
            unhex(
                "68cd0ab851e51c96aabc927bebef6a1c
                 01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000
                 02000c0044006f006d00610069006e0001000c0053006500720076006500720000000000
                 00000000"
            )
        );
        // 4.2.4.1.2 Session Base Key
        assert_eq!(
            r.session_base_key.to_vec(),
            unhex("8de40ccadbc14a82f15cb0ad0de95ca3")
        );
    }

    #[test]
    fn parses_spec_challenge() {
        let c = Challenge::parse(&unhex(SPEC_CHALLENGE)).unwrap();
        assert_eq!(c.flags, 0xe28a_8233);
        assert_eq!(
            c.server_challenge,
            [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]
        );
        assert_eq!(c.target_info, unhex(SPEC_TARGET_INFO));
        assert_eq!(c.timestamp(), None);
    }

    #[test]
    fn authenticate_message_carries_spec_responses_and_names() {
        let c = Challenge::parse(&unhex(SPEC_CHALLENGE)).unwrap();
        let m = authenticate_message(&spec_credentials(), "COMPUTER", &c, &[0xaa; 8], &[0; 8]);
        let field = |index: usize| {
            let at = 12 + index * 8;
            let len = usize::from(read_u16(&m, at).unwrap());
            let offset = read_u32(&m, at + 4).unwrap() as usize;
            m[offset..offset + len].to_vec()
        };
        assert_eq!(&m[..12], b"NTLMSSP\0\x03\0\0\0");
        assert_eq!(
            field(0),
            unhex("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa")
        );
        assert_eq!(
            field(1)[..16],
            unhex("68cd0ab851e51c96aabc927bebef6a1c")[..]
        );
        assert_eq!(field(2), utf16le("Domain"));
        assert_eq!(field(3), utf16le("User"));
        assert_eq!(field(4), utf16le("COMPUTER"));
        assert!(field(5).is_empty());
        let flags = read_u32(&m, 60).unwrap();
        assert_eq!(flags & NEGOTIATE_UNICODE, NEGOTIATE_UNICODE);
        assert_eq!(flags & NEGOTIATE_OEM, 0);
    }

    #[test]
    fn server_timestamp_is_used_and_lmv2_zeroed() {
        // Target info: MsvAvTimestamp (7) = 0x0102030405060708, then EOL.
        let target_info = unhex("0700080008070605040302010000 0000");
        let challenge = Challenge {
            flags: NEGOTIATE_UNICODE | NEGOTIATE_TARGET_INFO,
            server_challenge: [9; 8],
            target_info,
        };
        assert_eq!(challenge.timestamp(), Some([8, 7, 6, 5, 4, 3, 2, 1]));
        let m = authenticate_message(&spec_credentials(), "", &challenge, &[0xaa; 8], &[0xff; 8]);
        let lm_offset = read_u32(&m, 16).unwrap() as usize;
        assert_eq!(&m[lm_offset..lm_offset + 24], &[0u8; 24]);
        let nt_offset = read_u32(&m, 24).unwrap() as usize;
        assert_eq!(
            &m[nt_offset + 24..nt_offset + 32],
            &[8, 7, 6, 5, 4, 3, 2, 1]
        );
    }

    #[test]
    fn malformed_challenges_are_errors_not_panics() {
        for message in [
            Vec::new(),
            b"NTLMSSP\0".to_vec(),
            unhex("4e544c4d53535000010000000000000000000000000000000000000000000000"),
        ] {
            assert!(Challenge::parse(&message).is_err());
        }
        let mut truncated = unhex(SPEC_CHALLENGE);
        truncated.truncate(80);
        let err = Challenge::parse(&truncated).unwrap_err();
        assert!(err.contains("TargetInfo"), "{err}");
        // A lying AV pair length must not read past the end.
        let odd = Challenge {
            flags: 0,
            server_challenge: [0; 8],
            target_info: unhex("0700ff00"),
        };
        assert_eq!(odd.timestamp(), None);
    }

    #[test]
    fn mechanism_runs_negotiate_then_authenticate_once() {
        let mut m = Ntlm::new(spec_credentials());
        let negotiate = m.start(&ServerInfo::default()).unwrap().unwrap();
        assert_eq!(negotiate, negotiate_message());
        assert_eq!(read_u32(&negotiate, 12).unwrap(), CLIENT_FLAGS);
        let auth = m.next(&unhex(SPEC_CHALLENGE)).unwrap();
        assert_eq!(read_u32(&auth, 8).unwrap(), 3);
        assert!(matches!(
            m.next(&unhex(SPEC_CHALLENGE)),
            Err(MechanismError::BadChallenge { .. })
        ));
    }

    #[test]
    fn filetime_is_after_2020() {
        // 2020-01-01 as FILETIME: 132_223_104_000_000_000.
        assert!(u64::from_le_bytes(filetime_now()) > 132_223_104_000_000_000);
    }
}
