"""The prospect's secure chat page, in each language a flow must speak (en, de, fr, es).

The texts live here, beside the invite page's (``secure_channel.PAGE_TEXTS``), not in
the flow: they are the page's own wording, not messages sent on WhatsApp.
"""

from __future__ import annotations

__all__ = ["CHAT_TEXTS"]

# title: the page's heading; ended_*: a session that ran out; absent_*: a browser
# without the chat's cookie (another device, or cookies cleared); fresh: the way back.
CHAT_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "You're in the secure channel",
        "intro": "Write to us here: only you and our advisors can read this conversation.",
        "empty": "No messages yet. An advisor will answer you here.",
        "you": "You",
        "advisor": "Advisor",
        "label": "Your message",
        "send": "Send",
        "attach": "Attach a file",
        "attach_hint": "PDF, PNG or JPEG, at most 10 MB.",
        "download": "Download",
        "too_large": "This file is too large: at most 10 MB.",
        "not_sent": "Your message could not be sent. Please try again.",
        "ended_title": "Your secure session has ended",
        "ended_body": "For your security, sessions end after a while without activity.",
        "absent_title": "This secure chat is not open in this browser",
        "absent_body": "Each link opens the chat on one device only, once.",
        "fresh": "To come back, write 'new link' to us on WhatsApp.",
    },
    "de": {
        "title": "Sie sind im sicheren Kanal",
        "intro": "Schreiben Sie uns hier: Nur Sie und unsere Beraterinnen und Berater "
        "können dieses Gespräch lesen.",
        "empty": "Noch keine Nachrichten. Eine Beraterin oder ein Berater antwortet Ihnen hier.",
        "you": "Sie",
        "advisor": "Beratung",
        "label": "Ihre Nachricht",
        "send": "Senden",
        "attach": "Datei anhängen",
        "attach_hint": "PDF, PNG oder JPEG, höchstens 10 MB.",
        "download": "Herunterladen",
        "too_large": "Diese Datei ist zu groß: höchstens 10 MB.",
        "not_sent": "Ihre Nachricht konnte nicht gesendet werden. Bitte versuchen Sie es erneut.",
        "ended_title": "Ihre sichere Sitzung ist beendet",
        "ended_body": "Zu Ihrer Sicherheit enden Sitzungen nach einer Weile ohne Aktivität.",
        "absent_title": "Dieser sichere Chat ist in diesem Browser nicht geöffnet",
        "absent_body": "Jeder Link öffnet den Chat nur einmal und nur auf einem Gerät.",
        "fresh": "Um zurückzukehren, schreiben Sie uns auf WhatsApp: 'neuer Link'.",
    },
    "fr": {
        "title": "Vous êtes dans le canal sécurisé",
        "intro": "Écrivez-nous ici : seuls vous et nos conseillers pouvez lire cet échange.",
        "empty": "Pas encore de message. Un conseiller vous répondra ici.",
        "you": "Vous",
        "advisor": "Conseiller",
        "label": "Votre message",
        "send": "Envoyer",
        "attach": "Joindre un fichier",
        "attach_hint": "PDF, PNG ou JPEG, 10 Mo au maximum.",
        "download": "Télécharger",
        "too_large": "Ce fichier est trop volumineux : 10 Mo au maximum.",
        "not_sent": "Votre message n'a pas pu être envoyé. Veuillez réessayer.",
        "ended_title": "Votre session sécurisée est terminée",
        "ended_body": "Pour votre sécurité, les sessions se terminent après un moment "
        "d'inactivité.",
        "absent_title": "Ce chat sécurisé n'est pas ouvert dans ce navigateur",
        "absent_body": "Chaque lien n'ouvre le chat qu'une fois, sur un seul appareil.",
        "fresh": "Pour revenir, écrivez-nous « nouveau lien » sur WhatsApp.",
    },
    "es": {
        "title": "Ya está en el canal seguro",
        "intro": "Escríbanos aquí: solo usted y nuestros asesores pueden leer esta conversación.",
        "empty": "Todavía no hay mensajes. Un asesor le responderá aquí.",
        "you": "Usted",
        "advisor": "Asesor",
        "label": "Su mensaje",
        "send": "Enviar",
        "attach": "Adjuntar un archivo",
        "attach_hint": "PDF, PNG o JPEG, como máximo 10 MB.",
        "download": "Descargar",
        "too_large": "Este archivo es demasiado grande: como máximo 10 MB.",
        "not_sent": "No se ha podido enviar su mensaje. Inténtelo de nuevo.",
        "ended_title": "Su sesión segura ha finalizado",
        "ended_body": "Por su seguridad, las sesiones finalizan tras un tiempo sin actividad.",
        "absent_title": "Este chat seguro no está abierto en este navegador",
        "absent_body": "Cada enlace abre el chat una sola vez y en un solo dispositivo.",
        "fresh": "Para volver, escríbanos «nuevo enlace» por WhatsApp.",
    },
}
