"""The WhatsApp templates the sandbox's account has had approved, there from the start.

At Twilio, templates that may be sent outside WhatsApp's 24-hour window are made in the
Content Template Builder and approved by WhatsApp before use, so they exist before
gangway runs. The sandbox plays such an account: these invented templates, with fixed
Content SIDs, are what the shipped flow (``flows/default.yml``, section ``templates``)
names, and each has the wording of the flow's protocol text of the same purpose and
language, its placeholders numbered ``{{1}}``, ``{{2}}``, ... in order of appearance.
"""

from __future__ import annotations

from datetime import datetime

from bot.sandbox.content_api import ContentStore, ContentTemplate

__all__ = ["APPROVED", "add_approved"]

# Sample values shown for each variable, as the Content API keeps them.
_SAMPLES = {
    "consent_reminder": {"1": "https://www.examplebank.example/terms/2026-11/en"},
    "invite_reminder": {
        "1": "https://gangway.example.com/secure/abc",
        "2": "23 November 2026, 09:00 GMT",
    },
    "invite_expired": {},
    "advisor_follow_up": {"1": "Anna Advisor"},
    "secure_message_notice": {"1": "https://gangway.example.com/secure/invite/abc"},
}

# (Content SID, purpose, language, body)
APPROVED: tuple[tuple[str, str, str, str], ...] = (
    (
        "HXca8978946f8665ac99fe9fde9ac069fb",
        "consent_reminder",
        "en",
        (
            'A quick reminder: to continue in our secure channel, please answer "yes" to agree '
            'to our terms ({{1}}) or "no" to decline.'
        ),
    ),
    (
        "HX1b32cabd29abf11bb2c957da9b9d8863",
        "consent_reminder",
        "de",
        (
            "Eine kurze Erinnerung: Um in unserem sicheren Kanal weiterzumachen, antworten Sie "
            'bitte mit "ja", um unseren Bedingungen ({{1}}) zuzustimmen, oder mit "nein", um '
            "abzulehnen."
        ),
    ),
    (
        "HXae4333a25054b1f4938040c9ac744019",
        "consent_reminder",
        "fr",
        (
            "Petit rappel : pour poursuivre sur notre canal sécurisé, répondez « oui » pour "
            "accepter nos conditions ({{1}}) ou « non » pour refuser."
        ),
    ),
    (
        "HXcfdeeef8b81836f14b2f841fd7af6d19",
        "consent_reminder",
        "es",
        (
            'Un breve recordatorio: para continuar en nuestro canal seguro, responda "sí" para '
            'aceptar nuestras condiciones ({{1}}) o "no" para rechazarlas.'
        ),
    ),
    (
        "HXac19610d774b661634a1b0a22f866afd",
        "invite_reminder",
        "en",
        (
            "A reminder: your personal link to our secure channel is waiting for you: {{1}}\n"
            "It is valid until {{2}}."
        ),
    ),
    (
        "HX3de54c56023884bd5e1de4601165eadb",
        "invite_reminder",
        "de",
        (
            "Eine Erinnerung: Ihr persönlicher Link zu unserem sicheren Kanal wartet auf Sie: "
            "{{1}}\nEr ist gültig bis zum {{2}}."
        ),
    ),
    (
        "HX46aa1f4ec22148121201806da834a157",
        "invite_reminder",
        "fr",
        (
            "Un rappel : votre lien personnel vers notre canal sécurisé vous attend : {{1}}\n"
            "Il est valable jusqu'au {{2}}."
        ),
    ),
    (
        "HX1b49b6a243c18ce26194c562efedd693",
        "invite_reminder",
        "es",
        (
            "Un recordatorio: su enlace personal a nuestro canal seguro le está esperando: "
            "{{1}}\nEs válido hasta el {{2}}."
        ),
    ),
    (
        "HXf79c4f3d58bfdab1fa30e880f5e02463",
        "invite_expired",
        "en",
        (
            "For your security, your link to our secure channel has expired. If you'd still "
            "like to continue there, just let us know here and we'll send you a new link, or "
            'say "talk to a person".'
        ),
    ),
    (
        "HXafee771aa2dd80ca1bccf78715f02a6f",
        "invite_expired",
        "de",
        (
            "Zu Ihrer Sicherheit ist Ihr Link zu unserem sicheren Kanal abgelaufen. Wenn Sie "
            "dort weitermachen möchten, sagen Sie uns einfach hier Bescheid, dann senden wir "
            'Ihnen einen neuen Link, oder schreiben Sie "mit einer Person sprechen".'
        ),
    ),
    (
        "HX9e3e239a59d7554da318b74ca48d8be1",
        "invite_expired",
        "fr",
        (
            "Pour votre sécurité, votre lien vers notre canal sécurisé a expiré. Si vous "
            "souhaitez toujours y poursuivre, dites-le-nous ici et nous vous enverrons un "
            "nouveau lien, ou écrivez « parler à une personne »."
        ),
    ),
    (
        "HX19ec5d2f2826baece33b90398e273fe2",
        "invite_expired",
        "es",
        (
            "Por su seguridad, su enlace a nuestro canal seguro ha caducado. Si todavía desea "
            'continuar allí, díganoslo aquí y le enviaremos un enlace nuevo, o escriba "hablar '
            'con una persona".'
        ),
    ),
    (
        "HX27e12b545ceee2c6a999e47eae0cd336",
        "advisor_follow_up",
        "en",
        (
            "Hello from Example Bank: {{1}} from our team would like to continue your "
            "conversation. Please reply to this message and we will answer you here."
        ),
    ),
    (
        "HX8639e69e8fef2f1c3dff8c2ff8c853cf",
        "advisor_follow_up",
        "de",
        (
            "Hallo von der Example Bank: {{1}} aus unserem Team möchte Ihr Gespräch "
            "fortsetzen. Bitte antworten Sie auf diese Nachricht, dann antworten wir Ihnen "
            "hier."
        ),
    ),
    (
        "HX26954a8c11a4aaa76c41cdfa7129425b",
        "advisor_follow_up",
        "fr",
        (
            "Bonjour de la part d'Example Bank : {{1}}, de notre équipe, souhaite poursuivre "
            "votre échange. Répondez à ce message et nous vous répondrons ici."
        ),
    ),
    (
        "HX3b586165a8c1647bedcab1db1a301e1a",
        "advisor_follow_up",
        "es",
        (
            "Hola de parte de Example Bank: {{1}}, de nuestro equipo, quiere continuar su "
            "conversación. Responda a este mensaje y le contestaremos aquí."
        ),
    ),
)


# The notice of an advisor's message in the secure chat, per language.
APPROVED += (
    (
        "HX5e1c0a7b2d9f4e3a8c6b1d0f7a2e9c41",
        "secure_message_notice",
        "en",
        "You have a new message in your secure channel: {{1}}",
    ),
    (
        "HX6f2d1b8c3e0a5f4b9d7c2e1a8b3f0d52",
        "secure_message_notice",
        "de",
        "Sie haben eine neue Nachricht in Ihrem sicheren Kanal: {{1}}",
    ),
    (
        "HX7a3e2c9d4f1b6a5c0e8d3f2b9c4a1e63",
        "secure_message_notice",
        "fr",
        "Vous avez un nouveau message dans votre canal sécurisé : {{1}}",
    ),
    (
        "HX8b4f3d0e5a2c7b6d1f9e4a3c0d5b2f74",
        "secure_message_notice",
        "es",
        "Tiene un mensaje nuevo en su canal seguro: {{1}}",
    ),
)


def add_approved(store: ContentStore, account_sid: str, now: datetime) -> None:
    """Put the approved templates into ``store``, owned by ``account_sid``."""
    for sid, purpose, language, body in APPROVED:
        store.add(
            ContentTemplate(
                sid=sid,
                account_sid=account_sid,
                friendly_name=f"gangway_{purpose}_{language}",
                language=language,
                variables=dict(_SAMPLES[purpose]),
                types={"twilio/text": {"body": body}},
                created_at=now,
                updated_at=now,
            )
        )
