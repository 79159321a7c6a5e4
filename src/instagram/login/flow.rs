//! The login conversation: password, then whatever Instagram asks for (two-factor code,
//! challenge method and code), until a session or a refusal. The questions go through a
//! `Prompter`, so the terminal, a script's stdin or (later) the web UI can answer them.

use serde_json::Value;

use super::answer::{Challenge, ChallengeStep, Reply, TwoFactorInfo};
use super::client::{LoginClient, TwoFactorMethod};
use super::error::LoginError;
use super::password::Password;
use super::settings::Credential;

/// Wrong codes accepted before giving up, per step.
const MAX_CODE_ATTEMPTS: u32 = 3;
/// SMS resends allowed.
const MAX_RESENDS: u32 = 3;
/// Requests in one conversation, whatever Instagram answers (no endless loops).
const MAX_ROUNDS: usize = 12;

/// Whoever answers the questions.
pub trait Prompter {
    /// Asks for a line of text (a code, a choice).
    fn ask(&mut self, question: &str) -> Result<String, LoginError>;
    /// Asks for the password, without echo where possible.
    fn ask_secret(&mut self, question: &str) -> Result<Password, LoginError>;
    /// Tells the user something.
    fn say(&mut self, line: &str);
}

/// A verification code as typed: spaces and dashes removed, 6 to 8 digits.
fn clean_code(s: &str) -> Option<String> {
    let c: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    ((6..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit())).then_some(c)
}

/// Runs the whole login. `password` is asked for here, so it never has to leave this call.
pub async fn login(
    client: &mut LoginClient,
    prompter: &mut dyn Prompter,
    username: &str,
) -> Result<Credential, LoginError> {
    client.fetch_key().await?;
    let password = prompter.ask_secret(&format!("Password for {username}: "))?;
    if password.is_empty() {
        return Err(LoginError::Input("the password is empty".into()));
    }
    let mut reply = client.login(username, &password).await?;
    for _ in 0..MAX_ROUNDS {
        reply = match reply {
            Reply::Ok(v) => return client.credential(&v),
            Reply::TwoFactor(tf) => two_factor(client, prompter, username, &tf).await?,
            Reply::Challenge(ch) => {
                match challenge(client, prompter, &ch).await? {
                    Some(v) => return client.credential(&v),
                    // Accepted without a token: instagrapi then repeats the login.
                    None => client.login(username, &password).await?,
                }
            }
            Reply::WrongCode(m) => {
                return Err(LoginError::Unexpected {
                    step: "accounts/login",
                    status: 400,
                    detail: m,
                })
            }
        };
    }
    Err(LoginError::Unexpected {
        step: "login",
        status: 0,
        detail: format!("no session after {MAX_ROUNDS} steps"),
    })
}

async fn two_factor(
    client: &mut LoginClient,
    prompter: &mut dyn Prompter,
    username: &str,
    tf: &TwoFactorInfo,
) -> Result<Reply, LoginError> {
    let phone = tf
        .obfuscated_phone
        .as_deref()
        .map(|p| format!(" (phone ending {p})"))
        .unwrap_or_default();
    let mut method = if tf.totp {
        TwoFactorMethod::Totp
    } else {
        TwoFactorMethod::Sms
    };
    if method == TwoFactorMethod::Sms {
        prompter.say(&format!("Instagram sent a login code by SMS{phone}."));
    } else if tf.sms {
        prompter.say("Type `sms` instead of a code to get one by SMS.");
    }
    let mut wrong = 0;
    let mut resends = 0;
    loop {
        let question = match method {
            TwoFactorMethod::Totp => "Code from your authenticator app: ".to_string(),
            _ => "Code from the SMS (or `resend`): ".to_string(),
        };
        let answer = prompter.ask(&question)?;
        let answer = answer.trim();
        if matches!(answer, "sms" | "resend") && (tf.sms || method == TwoFactorMethod::Sms) {
            if resends >= MAX_RESENDS {
                prompter.say("No more resends; enter the last code received.");
                continue;
            }
            resends += 1;
            client.send_two_factor_sms(tf, username).await?;
            method = TwoFactorMethod::Sms;
            prompter.say(&format!("SMS sent{phone}."));
            continue;
        }
        let Some(code) = clean_code(answer) else {
            prompter.say("A code is 6 to 8 digits.");
            wrong += 1;
            if wrong >= MAX_CODE_ATTEMPTS {
                return Err(LoginError::WrongCode {
                    what: "two-factor code",
                    attempts: wrong,
                });
            }
            continue;
        };
        let m = if code.len() == 8 {
            TwoFactorMethod::BackupCode
        } else {
            method
        };
        match client.two_factor_login(tf, username, &code, m).await? {
            Reply::WrongCode(msg) => {
                wrong += 1;
                if wrong >= MAX_CODE_ATTEMPTS {
                    return Err(LoginError::WrongCode {
                        what: "two-factor code",
                        attempts: wrong,
                    });
                }
                prompter.say(&format!("Instagram refused the code ({msg}); try again."));
            }
            Reply::TwoFactor(_) => {
                return Err(LoginError::Unexpected {
                    step: "accounts/two_factor_login",
                    status: 400,
                    detail: "two-factor asked again".into(),
                })
            }
            other => return Ok(other),
        }
    }
}

/// Answers a legacy challenge. `Some(body)` when the last answer carried the session,
/// `None` when it was accepted and the login has to be sent again.
async fn challenge(
    client: &mut LoginClient,
    prompter: &mut dyn Prompter,
    ch: &Challenge,
) -> Result<Option<Value>, LoginError> {
    if let Some(what) = ch.manual_reason() {
        return Err(LoginError::NeedsApp { what });
    }
    prompter.say("Instagram wants to confirm it is you (a challenge).");
    let mut step = client.challenge_state(ch).await?;
    let mut wrong = 0;
    for _ in 0..MAX_ROUNDS {
        let reply = match &step {
            ChallengeStep::Done => return Ok(None),
            ChallengeStep::Manual { step } => {
                return Err(LoginError::NeedsApp {
                    what: format!("the challenge step {step:?}"),
                })
            }
            ChallengeStep::ItWasMe { step } => {
                prompter.say(&format!(
                    "Answering Instagram's {step:?} with \"it was me\"."
                ));
                client.challenge_answer(ch, "choice", "0").await?
            }
            ChallengeStep::SelectMethod { email, phone } => {
                let choice = match (email, phone) {
                    (Some(e), Some(p)) => {
                        let a = prompter.ask(&format!(
                            "Send the code by 1) email to {e} or 0) SMS to {p}? [1/0]: "
                        ))?;
                        match a.trim() {
                            "0" | "sms" | "SMS" => "0",
                            "1" | "email" | "" => "1",
                            _ => {
                                prompter.say("Answer 1 (email) or 0 (SMS).");
                                continue;
                            }
                        }
                    }
                    (Some(e), None) => {
                        prompter.say(&format!("Instagram sends the code by email to {e}."));
                        "1"
                    }
                    (None, _) => {
                        prompter.say("Instagram sends the code by SMS.");
                        "0"
                    }
                };
                client.challenge_answer(ch, "choice", choice).await?
            }
            ChallengeStep::EnterCode { sent_to } => {
                let to = sent_to
                    .as_deref()
                    .map(|s| format!(" sent to {s}"))
                    .unwrap_or_default();
                let a = prompter.ask(&format!("Security code{to}: "))?;
                let Some(code) = clean_code(&a) else {
                    prompter.say("A code is 6 to 8 digits.");
                    wrong += 1;
                    if wrong >= MAX_CODE_ATTEMPTS {
                        return Err(LoginError::WrongCode {
                            what: "security code",
                            attempts: wrong,
                        });
                    }
                    continue;
                };
                client.challenge_answer(ch, "security_code", &code).await?
            }
        };
        step = match reply {
            Reply::Ok(v) => {
                let next = ChallengeStep::parse(&v);
                if next == ChallengeStep::Done && client.has_token() {
                    return Ok(Some(v));
                }
                next
            }
            Reply::WrongCode(msg) => {
                wrong += 1;
                if wrong >= MAX_CODE_ATTEMPTS {
                    return Err(LoginError::WrongCode {
                        what: "security code",
                        attempts: wrong,
                    });
                }
                prompter.say(&format!("Instagram refused the code ({msg}); try again."));
                step
            }
            Reply::Challenge(_) | Reply::TwoFactor(_) => {
                return Err(LoginError::NeedsApp {
                    what: "a challenge inside the challenge".into(),
                })
            }
        };
    }
    Err(LoginError::Unexpected {
        step: "challenge",
        status: 0,
        detail: format!("not finished after {MAX_ROUNDS} steps"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(clean_code(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(clean_code("1234-5678").as_deref(), Some("12345678"));
        assert_eq!(clean_code("12345"), None);
        assert_eq!(clean_code("12345a"), None);
        assert_eq!(clean_code(&"1".repeat(10_000)), None);
    }
}
