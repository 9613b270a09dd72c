"""The word lists the order detectors share, in English, German, French and Spanish:
trade verbs, the ways an instruction is phrased (imperative, "I want to", "can you"),
and what turns a sentence into something else (a how-to question, a negation, a
condition, asking whether to trade). Matched against folded text (see ``words.fold``).
"""

from __future__ import annotations

import re

from bot.domain.detectors.words import words

__all__ = [
    "CONDITION",
    "FILLERS",
    "FIRST_PERSON_VERB",
    "FOR_ME",
    "HOW_TO",
    "INTENT",
    "NEGATION",
    "ORDER_TYPE",
    "QUANTITY",
    "REQUEST",
    "SAVING_PARTICLE",
    "TRADE_VERB",
    "WHETHER",
]

TRADE_VERB = words(
    # English
    r"buy",
    r"sell",
    r"purchase",
    r"transfer",
    r"send",
    r"wire",
    r"pay",
    r"put",
    r"move",
    r"withdraw",
    r"liquidate",
    r"dump",
    r"cash out",
    r"invest",
    # German
    r"(?:ver)?kauf(?:e|en|t)?",
    r"u(?:e)?berweis(?:e|en|t)?",
    r"transferier(?:e|en|t)?",
    r"investier(?:e|en|t)?",
    r"anlegen",
    r"steck(?:e|en|t)?",
    r"zahl(?:e|en|t)?",
    r"schick(?:e|en|t)?",
    r"sende(?:n|t)?",
    r"abheben",
    # French
    r"achet(?:e|ez|er)",
    r"vend(?:s|ez|re)",
    r"vir(?:e|ez|er)",
    r"transfer(?:e|ez|er)",
    r"plac(?:e|ez|er)",
    r"met(?:s|tez|tre)",
    r"investi(?:s|ssez|r)",
    r"envoi(?:e|ez)",
    r"envoy(?:ez|er)",
    r"pay(?:e|ez|er)",
    r"retir(?:e|ez|er)",
    # Spanish
    r"compr(?:a|e|en|ar|o)",
    r"vend(?:e|a|an|er|o)",
    r"transfier(?:e|a|o)",
    r"transferir",
    r"envi(?:a|e|ar|o)",
    r"mand(?:a|e|ar)",
    r"met(?:e|a|er|o)",
    r"pon(?:ga|er|go)?",
    r"invier(?:te|ta|to)",
    r"invertir",
    r"pag(?:a|ue|ar)",
    r"retir(?:a|e|ar|o)",
    r"saca(?:r)?",
    # Spanish "vosotros" imperatives, as prospects address a firm
    r"comprad",
    r"vended",
    r"transferid",
    r"enviad",
    r"mandad",
    r"meted",
    r"pagad",
    r"poned",
    r"sacad",
    r"invertid",
    r"pasa(?:d)?",
    # moving money between pots
    r"pass(?:e|ez)",
    r"schieb(?:e|en|t)?",
    r"shift",
    r"stick",
    # "get me 10 tesla"
    r"get me",
    r"hol(?:t)? mir",
    r"besorg(?:t)? mir",
    r"pren(?:ez|ds)[- ]moi",
    r"pilla(?:me|dme)?",
    r"consigue(?:me)",
    r"coge(?:me)",
    # "do the transfer of 1000", "faites un virement de 250"
    r"(?:do|make) (?:a|the) (?:transfer|payment)",
    r"(?:mach|macht|machen sie) (?:eine|die) u(?:e)?berweisung",
    r"(?:faites|fais|effectuez|effectue) (?:un|le) virement",
    r"(?:haced|haz|hagan|haga) (?:una|la) transferencia",
)
# Saving, not trading: "i can put away 300 a month".
SAVING_PARTICLE = re.compile(r"\s+(?:away|aside|by)\b|\s+de cote\b", re.IGNORECASE)
# A verb form that already says "I do it now".
FIRST_PERSON_VERB = words(
    r"ich (?:ver)?kaufe",
    r"ich u(?:e)?berweise",
    r"ich transferiere",
    r"j'achete",
    r"je (?:vends|vire|transfere|place|mets)",
    r"compro",
    r"vendo",
    r"transfiero",
    r"envio",
)
INTENT = words(
    r"i (?:want|wanna|need|wish) to",
    r"i wanna",
    r"i'?d (?:like|love|want) to",
    r"i would (?:like|love) to",
    r"i'?ll",
    r"i will",
    r"i'?m going to",
    r"i'?m gonna",
    r"let'?s",
    r"go ahead and",
    r"ich (?:will|mochte|moechte|werde|muss)",
    r"ich (?:wurde|wuerde|hatte|haette) gerne?",
    r"je (?:veux|voudrais|souhaite|vais|dois)",
    r"j'aimerais",
    r"quiero",
    r"quisiera",
    r"me gustaria",
    r"voy a",
    r"deseo",
    r"necesito",
)
REQUEST = words(
    r"please",
    r"pls",
    r"plz",
    r"(?:can|could|would) you",
    r"bitte",
    r"(?:kannst|konntest|koenntest) du",
    r"(?:konnen|konnten|koennen|koennten) sie",
    r"(?:konnt|koennt|konntet|koenntet) ihr",
    r"s'il (?:vous|te) plait",
    r"svp",
    r"stp",
    r"(?:pouvez|pourriez)-vous",
    r"vous (?:pouvez|pourriez)",
    r"(?:peux|pourrais)-tu",
    r"tu (?:peux|pourrais)",
    r"por favor",
    r"porfa",
    r"(?:puedes|podrias|puede usted|podria usted|podeis|podriais|pueden|podrian)",
)
# "for me" asks for an order after the verb ("buy 10 tesla for me"), not before it
# ("is it smart for me to sell ...").
FOR_ME = words(r"for me", r"fu(?:e)?r mich", r"pour moi", r"para mi")
# Asking whether to trade is advice, not an order.
WHETHER = words(
    r"should i",
    r"shall i",
    r"should we",
    r"is it (?:smart|wise|a good idea|a bad idea|worth|too late|the right time|time)",
    r"(?:better|best|right|smart|wise|smartest|wisest|smarter|too late|worth it)(?: \w+)?"
    r" for (?:me|us)",
    r"am (?:klugsten|besten|sinnvollsten)",
    r"le plus (?:malin|intelligent|judicieux)",
    r"lo (?:mas|mejor) (?:inteligente|sensato|listo)",
    r"good time",
    r"soll(?:te)? ich",
    r"lohnt (?:es )?sich",
    r"(?:besser|sinnvoll|zu spat|zu spaet|richtig) fu(?:e)?r mich",
    r"fu(?:e)?r mich (?:besser|sinnvoll|zu spat|zu spaet|richtig)",
    r"devrais-je",
    r"je devrais",
    r"dois-je",
    r"(?:le|un bon) moment pour",
    r"trop tard",
    r"(?:mieux|interessant) pour moi",
    r"deberia",
    r"(?:me|nos) conviene",
    r"es (?:muy )?tarde",
    r"(?:mejor|buen momento) para",
)
HOW_TO = words(
    r"how",
    r"can i",
    r"could i",
    r"may i",
    r"is it possible",
    r"do i",
    r"do you",
    r"is there",
    r"wie",
    r"kann ich",
    r"konnte ich",
    r"muss ich",
    r"ist es moglich",
    r"gibt es",
    r"comment",
    r"puis-je",
    r"est-ce que je peux",
    r"est-il possible",
    r"peut-on",
    r"dois-je",
    r"como",
    r"puedo",
    r"se puede",
    r"es posible",
    r"tengo que",
    r"hay que",
)
NEGATION = words(
    r"don'?t",
    r"do not",
    r"not",
    r"never",
    r"nicht",
    r"nie",
    r"kein\w*",
    r"ne",
    r"n'",
    r"pas",
    r"jamais",
    r"no",
    r"nunca",
)
CONDITION = words(r"if", r"when", r"once", r"wenn", r"falls", r"sobald", r"si", r"quand", r"cuando")
FILLERS = re.compile(
    r"(?:[\s,:\-]|\b(?:please|pls|plz|ok|okay|so|then|now|and|just|also|right|hi|hey|bitte"
    r"|dann|jetzt|und|also|hallo|alors|maintenant|et|stp|svp|bonjour|salut|por favor|vale"
    r"|entonces|ahora|y|pues|hola|oui|yes|ja|si)\b)*",
    re.IGNORECASE,
)
_NON_FINANCIAL_THINGS = (
    r"house|home|car|flat|apartment|haus|wohnung|auto|maison|appartement|voiture|casa|coche"
    r"|piso|apartamento|time|questions?|details|data|daten|documents?|donnees|datos"
)
QUANTITY = re.compile(
    r"(?<![\w.,])(?:[€$£]\s?)?\d+(?:[.,' ]\d{3})*(?:[.,]\d+)?"
    r"(?:\s?(?:k|%|€|\$|£|eur(?:os?)?|usd|dollars?|chf|shares?|stocks?|units?|aktien|anteile"
    r"|stuck|actions|parts|titres|acciones|participaciones)(?![\w]))?"
    r"|(?<![\w])(?:all|everything|half|the rest|alle|alles|die halfte|den rest|tout|toutes"
    r"|tous|la moitie|le reste|todo|todas|todos|la mitad|el resto)(?![\w])"
    rf"|(?<![\w])(?:my|meine?[nms]?|mes|mon|ma|mis|mi)\s+(?!(?:{_NON_FINANCIAL_THINGS})\b)\w{{2,}}",
    re.IGNORECASE,
)

ORDER_TYPE = words(
    r"(?:limit|market|stop(?:[- ]loss)?|stop[- ]limit)[- ]order",
    r"at market",
    r"limit-?order",
    r"(?:ordre|ordres) (?:a|au) (?:cours limite|marche)",
    r"au marche",
    r"orden(?:es)? (?:limitada|a mercado|de mercado)",
    r"a mercado",
    r"(?:at|at the) market price",
    r"zum (?:markt ?preis|marktkurs|besten kurs)",
    r"bestens",
    r"au prix du marche",
    r"(?:a|al) precio de mercado",
)
