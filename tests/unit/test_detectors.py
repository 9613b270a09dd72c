"""The deterministic detectors: what each one recognises in en/de/fr/es, what it leaves
alone, and the evidence run_detectors turns matches into.

All identifiers here are invented: documented test IBANs and card numbers, check digits
computed for made-up numbers, reserved phone ranges, example.com addresses.
"""

from __future__ import annotations

import time

import pytest

from bot.domain.detectors import DEFAULT_ASSIGNMENT, DETECTORS, Match, run_detectors
from bot.domain.evidence import Evidence
from bot.domain.levels import Level

EXPECTED_NAMES = {
    "passport_number",
    "national_id_number",
    "tax_id",
    "social_security_number",
    "date_of_birth",
    "email_address",
    "phone_number",
    "home_address",
    "iban",
    "payment_card",
    "financial_amount",
    "trade_instruction",
}

# (detector, message, the exact text the detector must span)
POSITIVES = [
    # iban
    ("iban", "my iban is DE89 3704 0044 0532 0130 00 thanks", "DE89 3704 0044 0532 0130 00"),
    ("iban", "meine IBAN: de89370400440532013000", "de89370400440532013000"),
    (
        "iban",
        "voici mon iban FR14 2004 1010 0505 0001 3M02 606.",
        "FR14 2004 1010 0505 0001 3M02 606",
    ),
    ("iban", "mi cuenta es ES9121000418450200051332", "ES9121000418450200051332"),
    ("iban", "pay into GB82-WEST-1234-5698-7654-32 pls", "GB82-WEST-1234-5698-7654-32"),
    # payment_card
    ("payment_card", "card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("payment_card", "meine Karte 5555-5555-5555-4444", "5555-5555-5555-4444"),
    ("payment_card", "ma carte amex 378282246310005", "378282246310005"),
    ("payment_card", "mi tarjeta es 4111111111111111", "4111111111111111"),
    # passport_number
    ("passport_number", "my passport number is C01X00T47", "C01X00T47"),
    ("passport_number", "Reisepass-Nr. c01x00t47", "c01x00t47"),
    ("passport_number", "mon numero de passeport est 18AB12345", "18AB12345"),
    ("passport_number", "numero de pasaporte: PAA123456", "PAA123456"),
    ("passport_number", "passport no 123456789", "123456789"),
    # national_id_number
    ("national_id_number", "mi DNI es 12345678Z", "12345678Z"),
    ("national_id_number", "my spanish id 12345678-z", "12345678-z"),
    ("national_id_number", "NIE X1234567L", "X1234567L"),
    ("national_id_number", "DNI 12.345.678-Z", "12.345.678-Z"),
    ("national_id_number", "Ausweisnummer L01X00T471", "L01X00T471"),
    ("national_id_number", "meine personalausweisnummer ist l01x00t47", "l01x00t47"),
    ("national_id_number", "my ID number is AB1234567", "AB1234567"),
    ("national_id_number", "numéro CNI: 880692310285", "880692310285"),
    # tax_id
    ("tax_id", "Steuer-ID 86471395289", "86471395289"),
    ("tax_id", "meine steuerid ist 26 958 371 427", "26 958 371 427"),
    ("tax_id", "mon numéro fiscal est 3012345678167", "3012345678167"),
    ("tax_id", "my ITIN is 912-78-1234", "912-78-1234"),
    ("tax_id", "mi NIF es 12345678Z", "12345678Z"),
    ("tax_id", "my UTR is 22345 67890", "22345 67890"),
    ("tax_id", "Steuernummer 12/345/67890", "12/345/67890"),
    # social_security_number
    ("social_security_number", "my SSN is 123-45-6789", "123-45-6789"),
    ("social_security_number", "social security number 123456789", "123456789"),
    ("social_security_number", "numéro de sécu 1 85 05 78 006 084 91", "1 85 05 78 006 084 91"),
    ("social_security_number", "mon NIR: 269052A15000124", "269052A15000124"),
    ("social_security_number", "NI number QQ123456C", "QQ123456C"),
    ("social_security_number", "NI qq 12 34 56 c", "qq 12 34 56 c"),
    ("social_security_number", "Rentenversicherungsnummer 65170839J003", "65170839J003"),
    (
        "social_security_number",
        "mi numero de la seguridad social es 28/12345678/40",
        "28/12345678/40",
    ),
    # date_of_birth
    ("date_of_birth", "I was born on 3 March 1990", "3 March 1990"),
    ("date_of_birth", "DOB: 03/03/1990", "03/03/1990"),
    ("date_of_birth", "my birthday is march 3rd, 1990", "march 3rd, 1990"),
    ("date_of_birth", "Geburtsdatum: 03.03.1990", "03.03.1990"),
    ("date_of_birth", "ich bin am 3. März 1990 geboren", "3. März 1990"),
    ("date_of_birth", "ich bin am 3. maerz 1990 geboren", "3. maerz 1990"),
    ("date_of_birth", "née le 3 mars 1990", "3 mars 1990"),
    ("date_of_birth", "je suis ne le 3 mars 1990", "3 mars 1990"),
    ("date_of_birth", "date de naissance 1990-03-03", "1990-03-03"),
    ("date_of_birth", "nací el 3 de marzo de 1990", "3 de marzo de 1990"),
    ("date_of_birth", "fecha de nacimiento 03-03-1990", "03-03-1990"),
    ("date_of_birth", "mi cumpleaños es el 3 de marzo", "3 de marzo"),
    # email_address
    ("email_address", "my email is jane.doe@example.com", "jane.doe@example.com"),
    ("email_address", "schreib mir an max+bank@mail.example.com!", "max+bank@mail.example.com"),
    ("email_address", "mon mail: chloé@example.com", "chloé@example.com"),
    ("email_address", "mi correo es ana_ruiz@example.es", "ana_ruiz@example.es"),
    # phone_number
    ("phone_number", "call me on +44 7700 900123", "+44 7700 900123"),
    ("phone_number", "+1 202 555 0142", "+1 202 555 0142"),
    ("phone_number", "my number is 07700 900123", "07700 900123"),
    ("phone_number", "meine Nummer ist 01520 0000000", "01520 0000000"),
    ("phone_number", "ruf mich an unter 0152/00000000", "0152/00000000"),
    ("phone_number", "mon numéro c'est 06 00 00 01 23", "06 00 00 01 23"),
    ("phone_number", "appelez-moi au 06.00.00.01.23", "06.00.00.01.23"),
    ("phone_number", "llámame al 600 000 123", "600 000 123"),
    ("phone_number", "mi número es 0034 600 000 123", "0034 600 000 123"),
    ("phone_number", "it's fine to text me on +44 7700 900321", "+44 7700 900321"),
    # national_id_number: driving licences and "carte d'identite" written out
    ("national_id_number", "driving licence no SAMPL702020CD3EF", "SAMPL702020CD3EF"),
    ("national_id_number", "numéro de carte d'identité XY7766554", "XY7766554"),
    # home_address
    ("home_address", "i live at 42 sample road, leeds", "42 sample road"),
    ("home_address", "we moved to 9 test close last month", "9 test close"),
    ("home_address", "Anschrift: Probeweg 14, 20095 Hamburg", "Probeweg 14"),
    ("home_address", "ich wohne in der Beispielstraße 3a", "Beispielstraße 3a"),
    ("home_address", "j'habite au 5 bis rue des essais", "5 bis rue des essais"),
    ("home_address", "vivo en la calle de la prueba 12, 3º", "calle de la prueba 12"),
    ("home_address", "mi domicilio: avda. del ensayo 40", "avda. del ensayo 40"),
    # financial_amount
    ("financial_amount", "I earn 60k a year", "60k"),
    ("financial_amount", "net salary 2700 a month", "2700"),
    ("financial_amount", "Nettogehalt 2.700 im Monat", "2.700"),
    ("financial_amount", "salaire net 2700 par mois", "2700"),
    ("financial_amount", "sueldo neto 2700 al mes", "2700"),
    ("financial_amount", "ich hab 15 riesen auf dem festgeld", "15 riesen"),
    ("financial_amount", "on doit encore 90k sur l'appartement", "90k"),
    ("financial_amount", "mi plan de pensiones tiene 30.000", "30.000"),
    ("financial_amount", "my salary is 4,500 per month", "4,500"),
    ("financial_amount", "I have 20,000 in savings", "20,000"),
    ("financial_amount", "i have 3500 in my account", "3500"),
    ("financial_amount", "I own 50 shares of Apple", "50"),
    ("financial_amount", "I have 100 shares of Microsoft", "100"),
    ("financial_amount", "I get 2500 after tax every month", "2500"),
    ("financial_amount", "Ich besitze 30 Aktien von BMW", "30"),
    ("financial_amount", "je possède 40 actions Airbus", "40"),
    ("financial_amount", "tengo 25 acciones de Telefónica", "25"),
    ("financial_amount", "my mortgage is £250,000", "£250,000"),
    ("financial_amount", "ich verdiene 4.000 netto im Monat", "4.000"),
    ("financial_amount", "Ich habe 50.000 € gespart", "50.000 €"),
    ("financial_amount", "mein Depot ist 1,2 Mio wert", "1,2 Mio"),
    ("financial_amount", "ich habe 20 000 € Schulden", "20 000 €"),
    ("financial_amount", "je gagne 3000 euros par mois", "3000 euros"),
    ("financial_amount", "j'ai 20 000 € sur mon compte", "20 000 €"),
    ("financial_amount", "mes économies: 15 000 €", "15 000 €"),
    ("financial_amount", "gano 2.500 al mes", "2.500"),
    ("financial_amount", "tengo 5.000 euros en la cuenta", "5.000 euros"),
    ("financial_amount", "mi hipoteca es de 120.000 euros", "120.000 euros"),
    ("financial_amount", "I earn 3000 a month, can I open an account?", "3000"),
    # trade_instruction
    ("trade_instruction", "buy 10 shares of Apple", "buy 10 shares"),
    ("trade_instruction", "sell all my Tesla", "sell all"),
    ("trade_instruction", "please transfer 500 to my sister", "transfer 500"),
    ("trade_instruction", "put 2000 into the MSCI World ETF", "put 2000"),
    ("trade_instruction", "I want to sell 50% of my ETF", "sell 50%"),
    ("trade_instruction", "can you buy 10 shares for me?", "buy 10 shares"),
    ("trade_instruction", "kauf 5 Aktien von SAP", "kauf 5 Aktien"),
    ("trade_instruction", "überweise 300 Euro an Max", "überweise 300 Euro"),
    ("trade_instruction", "ich möchte 10 Aktien von Apple kaufen", "10 Aktien von Apple kaufen"),
    ("trade_instruction", "achète 10 actions Total", "achète 10 actions"),
    ("trade_instruction", "vends mes parts", "vends mes parts"),
    ("trade_instruction", "vire 200 € sur mon livret", "vire 200 €"),
    ("trade_instruction", "compra 20 acciones de Santander", "compra 20 acciones"),
    ("trade_instruction", "vende mis fondos", "vende mis fondos"),
    ("trade_instruction", "transfiere 100 euros a mi hermana", "transfiere 100 euros"),
    ("trade_instruction", "quiero vender todo", "vender todo"),
    ("trade_instruction", "Quiero invertir 10.000 euros", "invertir 10.000 euros"),
    ("trade_instruction", "Kaufen Sie bitte 100 Stück Siemens", "Kaufen Sie bitte 100 Stück"),
    ("trade_instruction", "Bitte 2000 Euro in den ETF stecken", "2000 Euro in den ETF stecken"),
    ("trade_instruction", "vendez tout", "vendez tout"),
    # orders as prospects type them: slang, "vosotros", nominal transfers, no trade verb
    ("trade_instruction", "get me 5 nvidia", "get me 5"),
    ("trade_instruction", "comprad 30 acciones de iberdrola", "comprad 30 acciones"),
    (
        "trade_instruction",
        "haced una transferencia de 90 a mi hermano",
        "haced una transferencia de 90",
    ),
    ("trade_instruction", "faites un virement de 90 à mon frère", "faites un virement de 90"),
    (
        "trade_instruction",
        "könnt ihr 3 SAP aktien für mich kaufen?",
        "3 SAP aktien für mich kaufen",
    ),
    (
        "trade_instruction",
        "1k vom Sparkonto ins Depot schieben",
        "1k vom Sparkonto ins Depot schieben",
    ),
    ("trade_instruction", "700 into the bond fund please", "700 into the bond fund"),
    ("trade_instruction", "200 al fondo de bonos, gracias", "200 al fondo"),
    ("trade_instruction", "i'll take 15 of the europe etf", "i'll take 15 of the"),
    ("trade_instruction", "mandad 40 a mi hermana", "mandad 40"),
    (
        "trade_instruction",
        "50 a month into the world fund from may",
        "50 a month into the world fund",
    ),
    ("trade_instruction", "stop loss order: 40 amazon at 95", "stop loss order: 40"),
]


@pytest.mark.parametrize(("name", "text", "span"), POSITIVES)
def test_detector_finds_the_disclosure(name: str, text: str, span: str) -> None:
    """Each detector finds its kind of disclosure, in any of the four languages."""
    found = [text[m.start : m.end] for m in DETECTORS[name].find(text)]
    assert span in found


# Messages no detector may fire on: public questions, numbers that are not identifiers,
# checksum-wrong identifiers, mentions without disclosure.
NEGATIVES = [
    # checksums that fail
    "my iban is DE89370400440532013001",
    "meine IBAN DE88 3704 0044 0532 0130 00",
    "card 4111 1111 1111 1112",
    "mi DNI es 12345678A",
    "NIE X1234567A",
    "numéro de sécu 1 85 05 78 006 084 92",
    "Steuer-ID 86471395288",
    "Rentenversicherungsnummer 65170839J004",
    "my SSN is 000-12-3456",
    "my SSN is 666-12-3456",
    "NI number GB123456A",
    # questions that mention, without disclosing
    "Do I need a passport?",
    "Brauche ich einen Reisepass oder reicht der Personalausweis?",
    "Ai-je besoin d'un passeport ?",
    "¿Necesito pasaporte para abrir una cuenta?",
    "What is your email address?",
    "Can I give you my phone number?",
    "How much do I need to earn to open an account?",
    "Do I have to declare my savings?",
    "Wie viel muss ich verdienen?",
    "Quel salaire faut-il ?",
    "¿Tengo que declarar mis ahorros?",
    # the bank's public facts
    "What are your fees? 0.2% per trade?",
    "fees of 0.2%",
    "is there a minimum deposit of 100 euros?",
    "how much does the account cost per month?",
    "what's the interest rate on savings accounts?",
    "what interest do you pay on 10,000 of savings?",
    "If I invest 10,000, how much would I earn?",
    "Gibt es eine Mindesteinlage von 100 Euro?",
    "Was kostet das Konto im Monat? 4,90 €?",
    "Wie hoch sind die Zinsen auf 10.000 € Ersparnisse?",
    "Y a-t-il un dépôt minimum de 100 euros ?",
    "Combien coûte le compte par mois ?",
    "Si je place 10 000 €, combien je gagne ?",
    "¿Hay un depósito mínimo de 100 euros?",
    "¿Cuánto cuesta la cuenta al mes?",
    "Si ahorro 200 euros al mes, ¿cuánto tendré en 10 años?",
    # numbers that are not identifiers
    "I'll be there in 10 minutes",
    "you're open 24/7 right?",
    "delivery takes 2-3 days",
    "my order number is 12345678",
    "Bestellnummer 1234567890",
    "référence de commande 9876543210",
    "mi pedido 202400012345",
    "call your hotline on 0800 123 4567?",
    "Our office is at 10115 Berlin",
    "I opened my first account in 2019",
    "the meeting is at 10:30 on 12.03.2025",
    "I have 2 questions",
    "passport photo is 35x45mm",
    "My passport expires in 2030",
    "I'm 45 years old and have 2 kids",
    "What's the tax on 1000 euros of gains?",
    "The ETF costs 0,22 % TER",
    "my phone is 555-0142",
    # dates and ages without birth context
    "can I come on 3 March?",
    "Kann ich am 3. März 1990 vorbeikommen?",
    "Je peux venir le 3 mars ?",
    "¿Puedo ir el 3 de marzo de 2025?",
    "I'm 34",
    "Ich bin 34 Jahre alt",
    "J'ai 34 ans",
    "Tengo 34 años",
    # how trading works
    "how do I buy shares with you?",
    "can I transfer money abroad?",
    "Wie kaufe ich Aktien bei euch?",
    "Kann ich Geld ins Ausland überweisen?",
    "Comment acheter des actions chez vous ?",
    "Puis-je virer de l'argent à l'étranger ?",
    "¿Cómo compro acciones con vosotros?",
    "¿Puedo transferir 500 euros al extranjero?",
    "I don't want to sell my shares",
    "I want to sell my house",
    "I bought 10 shares last year",
    "Can I buy fractional shares?",
    # asking whether to trade is advice, not an order
    "is it wise for me to sell my 20 apple shares now?",
    "should i move 5k into the world fund?",
    "lohnt es sich für mich, meine 20 Aktien zu verkaufen?",
    "c'est trop tard pour moi pour acheter 10 actions ?",
    "me conviene vender mis 20 acciones ya?",
    "what is a stop loss order on 10 shares?",
    # a number someone else called or texted from
    "got a call from +44 7700 900555 saying it's my bank, is it you?",
    "+49 1520 0000099 hat mich angerufen, seid ihr das?",
    "un numéro inconnu, le +33 6 00 00 00 55, m'a écrit, c'est vous ?",
    "is +44 161 496 0123 one of your numbers?",
    "ist +49 89 00000123 eure nummer?",
    # a year is not an amount to trade
    "me podeis mandar el extracto de 2024?",
    "send me the statement from 2023 please",
    # the firm's address and other numbers next to street words
    "is your branch at 10 high street open today?",
    "ist eure Filiale in der Hauptstraße 5 noch offen?",
    "i waited 20 minutes in the lane",
    "during 2023 i saved a lot",
    # prices and conditions next to income words
    "is there a minimum salary of 2500 for the gold card?",
    "the net price is 120 per month",
    "how much can i save per year, 20000?",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_no_detector_fires_on_public_or_invalid_numbers(text: str) -> None:
    """Fees, times, references, wrong check digits and mere mentions give no evidence."""
    assert [(e.name, text[e.start or 0 : e.end]) for e in run_detectors(text)] == []


@pytest.mark.parametrize(
    "text",
    [
        "what do you suggest, i can put aside 200 a month",
        "i have 5k in the world etf",
        "ich hab 20k im tagesgeld",
        "j'ai 20 000 dans le fonds euro",
    ],
)
def test_saving_and_holding_are_not_orders(text: str) -> None:
    """Putting money aside or holding it in a fund discloses finances but orders nothing."""
    assert DETECTORS["trade_instruction"].find(text) == []


def test_registry_holds_exactly_the_named_detectors() -> None:
    """Flows can name every documented detector, and no other."""
    assert set(DETECTORS) == EXPECTED_NAMES
    assert all(DETECTORS[n].name == n for n in DETECTORS)


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("passport_number", Level.IDENTITY),
        ("phone_number", Level.IDENTITY),
        ("iban", Level.FINANCIAL),
        ("financial_amount", Level.FINANCIAL),
        ("trade_instruction", Level.ORDER),
    ],
)
def test_default_assignment_follows_the_ladder(name: str, level: Level) -> None:
    """Without a flow, identifiers are identity, money facts financial, trades order."""
    assert DEFAULT_ASSIGNMENT[name] == level == DETECTORS[name].default_level


def test_evidence_carries_the_span_and_never_the_value() -> None:
    """Evidence points at the IBAN in the message but does not contain it."""
    text = "hi, my iban is DE89 3704 0044 0532 0130 00"
    (evidence,) = run_detectors(text)
    assert evidence.source == "detector"
    assert evidence.name == "iban"
    assert evidence.level == Level.FINANCIAL
    assert text[evidence.start or 0 : evidence.end] == "DE89 3704 0044 0532 0130 00"
    assert evidence.confidence == 1.0
    assert "3704" not in repr(evidence) and "3704" not in str(evidence.as_dict())


def test_checksum_validated_matches_are_certain_and_context_ones_are_not() -> None:
    """A valid IBAN scores 1.0; a passport found by its context word scores less."""
    (iban,) = DETECTORS["iban"].find("DE89370400440532013000")
    (passport,) = DETECTORS["passport_number"].find("passport C01X00T47")
    assert iban.confidence == 1.0
    assert 0.6 <= passport.confidence < 1.0


def test_assignment_sets_the_level() -> None:
    """A flow that puts email at financial gets email evidence at financial."""
    text = "write to jane@example.com"
    assert run_detectors(text, {"email_address": Level.FINANCIAL}) == [
        Evidence("detector", "email_address", Level.FINANCIAL, 9, 25, 0.9)
    ]


def test_assignment_runs_only_the_named_detectors() -> None:
    """Detectors a flow does not assign do not fire."""
    text = "my iban is DE89370400440532013000, mail jane@example.com"
    names = {e.name for e in run_detectors(text, {"iban": Level.FINANCIAL})}
    assert names == {"iban"}


def test_unknown_detector_name_is_refused_plainly() -> None:
    """A misspelt detector name names itself and the known ones."""
    with pytest.raises(KeyError) as caught:
        run_detectors("hello", {"ibann": Level.FINANCIAL})
    message = caught.value.args[0]
    assert "'ibann'" in message
    assert "iban" in message.replace("'ibann'", "")
    assert "trade_instruction" in message


def test_phone_detector_leaves_ibans_and_cards_to_their_detectors() -> None:
    """An IBAN or card number next to "my number" is not also a phone number."""
    text = "my number is 4111 1111 1111 1111 and my iban DE89 3704 0044 0532 0130 00"
    names = {e.name for e in run_detectors(text)}
    assert "phone_number" not in names
    assert {"payment_card", "iban"} <= names


def test_the_firms_own_number_is_not_the_prospects() -> None:
    """A hotline number quoted back is not a disclosure; the prospect's own number is."""
    text = "your hotline 0800 123 4567 doesn't work, my number is +44 7700 900456"
    spans = [text[m.start : m.end] for m in DETECTORS["phone_number"].find(text)]
    assert spans == ["+44 7700 900456"]


def test_several_disclosures_in_one_message_each_give_evidence() -> None:
    """Email, birth date and IBAN in one message are three pieces of evidence."""
    text = "I'm jane@example.com, born 3 March 1990, IBAN GB82WEST12345698765432"
    found = {(e.name, text[e.start or 0 : e.end]) for e in run_detectors(text)}
    assert found == {
        ("email_address", "jane@example.com"),
        ("date_of_birth", "3 March 1990"),
        ("iban", "GB82WEST12345698765432"),
    }


def test_matches_are_value_objects() -> None:
    """Two identical matches compare equal, so duplicates are easy to remove."""
    assert Match(1, 5, 0.9) == Match(1, 5, 0.9)


def test_detectors_are_fast_on_a_typical_message() -> None:
    """All detectors together take well under a millisecond per typical message."""
    text = "Hi! I earn about 4,000 a month and want to open an account. My email is a@example.com"
    run_detectors(text)
    rounds = 200
    started = time.perf_counter()
    for _ in range(rounds):
        run_detectors(text)
    per_message = (time.perf_counter() - started) / rounds
    assert per_message < 0.002


# (detector, message): the message gives evidence of that detector, wherever it spans.
CASUAL_DISCLOSURES = [
    # an exit from a position, without buy or sell
    ("trade_instruction", "get me out of my shell shares today"),
    ("trade_instruction", "out of the bond fund, all of it please"),
    ("trade_instruction", "liquidate my whole portfolio"),
    ("trade_instruction", "i want out of the tech etf right now"),
    ("trade_instruction", "meine BMW-Position heute glattstellen"),
    ("trade_instruction", "raus aus dem goldfonds, sofort"),
    ("trade_instruction", "sortez-moi du fonds immobilier aujourd'hui"),
    ("trade_instruction", "sácame de todas mis acciones de telefónica"),
    ("trade_instruction", "toutes mes parts du fonds monde, au prix du marché"),
    # an amount sent to a valid IBAN
    ("trade_instruction", "750 to DE89 3704 0044 0532 0130 00 tomorrow"),
    ("trade_instruction", "envoyez 90 € sur FR14 2004 1010 0505 0001 3M02 606"),
    # a debt mentioned in passing
    ("financial_amount", "still paying back 8k on the kitchen"),
    ("financial_amount", "we have 150,000 left on the mortgage"),
    ("financial_amount", "ich zahle noch 6.000 für die Küche ab"),
    ("financial_amount", "il me reste 4000 € de prêt auto"),
    ("financial_amount", "todavía debo 2.000 de la tarjeta"),
    # a birth year or age given casually
    ("date_of_birth", "i turned 41 in june"),
    ("date_of_birth", "I was born in 1985"),
    ("date_of_birth", "born in '88, fwiw"),
    ("date_of_birth", "ich bin Jahrgang 79"),
    ("date_of_birth", "ich bin im Mai 45 geworden"),
    ("date_of_birth", "j'ai eu 51 ans en avril"),
    ("date_of_birth", "soy del 92"),
    ("date_of_birth", "acabo de cumplir 27"),
]


@pytest.mark.parametrize(("name", "text"), CASUAL_DISCLOSURES)
def test_casual_disclosures_are_found(name: str, text: str) -> None:
    """Exits, IBAN transfers, debts and birth years given in passing are evidence."""
    assert name in {e.name for e in run_detectors(text)}


@pytest.mark.parametrize(
    "text",
    [
        # how exits work, and exits that are not about a holding
        "how do i get out of a fund early?",
        "is there a charge to close a position?",
        "please close my account",
        "c'est quoi un ordre au prix du marché ?",
        "¿cómo se sale de un fondo?",
        "i'm out of the office until monday",
        # an IBAN with no amount sent to it, or a question about transfers
        "how long does a transfer to an iban abroad take?",
        # loans asked about, not owed
        "do you do car loans of 10k?",
        "quel est le taux d'un prêt de 20 000 € ?",
        # ages and years that are not the prospect's
        "my daughter turned 18, can she open an account?",
        "the fund turned 10 this year",
        "j'ai 10 ans d'expérience en bourse",
        # example values asked about
        "is 01/01/1990 in the date of birth field just an example?",
        "el formulario pone ES00 0000 0000 0000 0000 0000, ¿es un ejemplo?",
    ],
)
def test_look_alikes_of_casual_disclosures_are_left_alone(text: str) -> None:
    """How-to questions, third parties, offers and example values give no order or
    disclosure evidence."""
    assert [(e.name, text[e.start or 0 : e.end]) for e in run_detectors(text)] == []


def test_a_valid_card_number_asked_about_as_a_sample_is_not_a_disclosure() -> None:
    """The documented test card shown on a form and asked about is the firm's example."""
    assert run_detectors("the form shows 4111 1111 1111 1111, is that a sample?") == []


def test_for_example_still_introduces_the_prospects_own_data() -> None:
    """ "For example" is not a question about an example value."""
    text = "you could use my card, for example 4111 1111 1111 1111?"
    assert "payment_card" in {e.name for e in run_detectors(text)}


# --- formats and check digits that come from python-stdnum and phonenumbers ----------


def test_an_iban_needs_its_countrys_format() -> None:
    """An IBAN passing mod-97 but not its country's BBAN format is no IBAN."""
    # mod-97 right, but a letter where a German BBAN has only digits
    text = "meine IBAN DE47 3704 0044 0532 013A 00"
    assert DETECTORS["iban"].find(text) == []
    assert "phone_number" not in {e.name for e in run_detectors(text)}


@pytest.mark.parametrize(
    "text",
    [
        # mod-97 and format right, but the Spanish account number's own check digits wrong
        "mi IBAN ES29 2100 0418 4602 0005 1332",
        # a Belgian bank code stdnum does not list (a bank newer than its data)
        "my iban is BE68 5390 0754 7034",
    ],
)
def test_an_iban_failing_only_national_checks_still_counts_with_less_confidence(
    text: str,
) -> None:
    """mod-97 and the registry's format are enough to disclose an account, at 0.9."""
    (match,) = DETECTORS["iban"].find(text)
    assert match.confidence == 0.9


def test_a_steuer_id_needs_the_digit_pattern_the_tax_office_issues() -> None:
    """A right check digit without exactly one repeated digit is not a Steuer-ID."""
    assert DETECTORS["tax_id"].find("meine Steuer-ID ist 26958371402") == []
    (bare,) = DETECTORS["tax_id"].find("36574261809")
    assert (bare.start, bare.end, bare.confidence) == (0, 11, 1.0)


@pytest.mark.parametrize(
    "text",
    [
        "mon numéro fiscal est 3012345678901",  # last three digits are not its check
        "my UTR is 12345 67890",  # first digit is not its check digit
        "Steuernummer 12/345/6789",  # a Steuernummer has 10, 11 or 13 digits
        "Steuernummer 123/4567/89012",
    ],
)
def test_tax_numbers_next_to_a_tax_word_still_need_a_valid_format(text: str) -> None:
    """A numero fiscal, UTR or Steuernummer that stdnum rejects is not one, context or not."""
    assert DETECTORS["tax_id"].find(text) == []


def test_a_spanish_nif_without_a_dni_is_found_next_to_a_tax_word() -> None:
    """The K, L and M NIFs of people with neither DNI nor NIE are tax numbers too."""
    text = "mi NIF es K1234567L"
    assert [text[m.start : m.end] for m in DETECTORS["tax_id"].find(text)] == ["K1234567L"]
    assert DETECTORS["tax_id"].find("mi NIF es K1234567A") == []


def test_itins_in_the_groups_stdnum_does_not_list_yet_are_found() -> None:
    """The IRS issues ITIN groups 50-65 too, so 912-55-1234 is an ITIN."""
    text = "my ITIN is 912-55-1234"
    assert [text[m.start : m.end] for m in DETECTORS["tax_id"].find(text)] == ["912-55-1234"]


def test_an_ssn_printed_in_advertisements_is_not_a_disclosure() -> None:
    """stdnum refuses 457-55-5462, the SSN published in nationwide advertisements."""
    assert DETECTORS["social_security_number"].find("my SSN is 457-55-5462") == []


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("call me on +1 202 555 0123", "+1 202 555 0123"),
        ("text me on +44 7700 900123", "+44 7700 900123"),
        ("mon numéro: +33 6 00 00 00 12", "+33 6 00 00 00 12"),
        ("meine Nummer: +49 170 0000 123", "+49 170 0000 123"),
        ("mi número: +34 600 000 123", "+34 600 000 123"),
    ],
)
def test_numbers_from_ranges_reserved_for_fiction_are_found_when_given(
    text: str, span: str
) -> None:
    """Numbers phonenumbers finds possible but not necessarily valid still count."""
    assert [text[m.start : m.end] for m in DETECTORS["phone_number"].find(text)] == [span]


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("ruf mich an unter 0152 / 00000000", "0152 / 00000000"),
        ("ich bin erreichbar unter 089 / 1234 5678", "089 / 1234 5678"),
        ("text me on +44 - 7700 - 900123", "+44 - 7700 - 900123"),
    ],
)
def test_phone_numbers_grouped_by_spaced_slashes_or_dashes_are_found_whole(
    text: str, span: str
) -> None:
    """ "0152 / 00000000" and "+44 - 7700 - 900123" are one number each, found whole."""
    assert [text[m.start : m.end] for m in DETECTORS["phone_number"].find(text)] == [span]


def test_a_number_with_no_such_calling_code_is_not_a_phone_number() -> None:
    """+999 is no country's calling code, so "+999 1234 5678" is no phone number."""
    assert DETECTORS["phone_number"].find("my number is +999 1234 5678") == []


def test_a_number_after_00_is_international() -> None:
    """ "00 34 ..." is a Spanish number written with the international prefix."""
    (match,) = DETECTORS["phone_number"].find("mi numero es 00 34 600 000 123")
    assert match.confidence == 0.95


def test_the_phone_detector_stays_fast_on_a_long_message_full_of_numbers() -> None:
    """2 kB with dozens of phones, dates and amounts take the phone detector milliseconds."""
    text = (
        "I earn about 4,000 a month. My number is +44 7700 900123, call me after 18:00 "
        "on 12.03.2025. Ruf mich an unter 0152 00000000. "
    ) * 16
    detector = DETECTORS["phone_number"]
    detector.find(text)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        detector.find(text)
    assert (time.perf_counter() - started) / rounds < 0.02
