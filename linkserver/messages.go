package linkserver

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Catalog supplies the page texts by language and key; arguments fill the
// text's fmt verbs. *catalog.Catalog satisfies it.
type Catalog interface {
	T(lang, key string, args ...any) string
}

// builtinCatalog holds the page texts until the shared catalog exists.
type builtinCatalog struct{}

func (builtinCatalog) T(lang, key string, args ...any) string {
	m, ok := builtinTexts[lang][key]
	if !ok {
		m, ok = builtinTexts["de"][key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return m
	}
	return fmt.Sprintf(m, args...)
}

var builtinTexts = map[string]map[string]string{
	"de": {
		"page.lang.name":                "Deutsch",
		"page.skip":                     "Zum Inhalt springen",
		"page.footer":                   "%s · sichere Übermittlung von Dokumenten",
		"page.dev":                      "Entwicklungsinstanz – keine echten Daten",
		"page.imprint":                  "Impressum",
		"page.privacy":                  "Datenschutz",
		"page.home_link":                "Zur Startseite",
		"page.home.title":               "Dokumente abrufen",
		"page.home.intro":               "Sie haben eine E-Mail mit einem Zugangscode erhalten? Geben Sie den Code hier ein, um die Dokumente zu öffnen.",
		"page.home.code_label":          "Zugangscode",
		"page.home.code_hint":           "Zum Beispiel ABCD-EFGH-JKMN-PQRS. Groß- und Kleinschreibung, Leerzeichen und Bindestriche spielen keine Rolle.",
		"page.home.submit":              "Dokumente öffnen",
		"page.home.wrong_code":          "Zu diesem Code gibt es keine Dokumente. Bitte prüfen Sie den Code in Ihrer E-Mail.",
		"page.home.gone_code":           "Die Dokumente zu diesem Code sind nicht mehr verfügbar: Sie sind abgelaufen oder wurden zurückgezogen. Bitte wenden Sie sich an den Absender.",
		"page.transfer.title":           "Dokumente für Sie",
		"page.transfer.intro":           "%s hat Ihnen Dokumente sicher übermittelt. Sie werden am %s gelöscht.",
		"page.transfer.save_hint":       "Bitte laden Sie die Dateien herunter und speichern Sie sie, wenn Sie sie später noch brauchen.",
		"page.transfer.sender":          "Absender",
		"page.transfer.level":           "Sicherheitsstufe",
		"page.transfer.expires":         "Verfügbar bis",
		"page.transfer.files":           "Dateien",
		"page.transfer.download":        "Herunterladen",
		"page.transfer.download_label":  "%s herunterladen (%s)",
		"page.transfer.signin_title":    "Anmeldung erforderlich",
		"page.transfer.signin":          "Diese Dokumente sind besonders geschützt. Um sie zu öffnen, melden Sie sich mit einem Einmalcode an, der an Ihre E-Mail-Adresse geschickt wird.",
		"page.level.1":                  "Stufe 1: Zugriff über den Link",
		"page.level.2":                  "Stufe 2: Anmeldung mit Einmalcode",
		"page.level.3":                  "Stufe 3: Ende-zu-Ende-verschlüsselt",
		"page.level.4":                  "Stufe 4: Ende-zu-Ende-verschlüsselt, auch die Nachricht",
		"page.error.not_found.title":    "Dieser Link ist ungültig oder abgelaufen",
		"page.error.not_found.text":     "Prüfen Sie, ob Sie den Link vollständig kopiert haben, oder geben Sie auf der Startseite den Zugangscode aus der E-Mail ein. Wenn das nicht hilft, wenden Sie sich bitte an den Absender der E-Mail.",
		"page.error.gone.title":         "Diese Dokumente sind nicht mehr verfügbar",
		"page.error.gone.text":          "Sie sind abgelaufen oder wurden vom Absender zurückgezogen. Wenn Sie sie noch brauchen, wenden Sie sich bitte an den Absender der E-Mail.",
		"page.error.rate_limited.title": "Zu viele Versuche",
		"page.error.rate_limited.text":  "Bitte warten Sie %s und versuchen Sie es dann noch einmal.",
		"page.error.csrf.title":         "Das Formular ist abgelaufen",
		"page.error.csrf.text":          "Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
		"page.error.bad_request.title":  "Die Anfrage ist ungültig",
		"page.error.bad_request.text":   "Bitte laden Sie die Seite neu und versuchen Sie es noch einmal.",
		"page.error.signin.title":       "Anmeldung erforderlich",
		"page.error.signin.text":        "Diese Datei ist besonders geschützt. Öffnen Sie den Link aus Ihrer E-Mail und melden Sie sich dort an.",
		"page.error.internal.title":     "Ein Fehler ist aufgetreten",
		"page.error.internal.text":      "Bitte versuchen Sie es später noch einmal. Wenn der Fehler bleibt, wenden Sie sich bitte an den Absender der E-Mail.",
		"page.minutes":                  "%d Minuten",
		"page.minute":                   "eine Minute",
	},
	"en": {
		"page.lang.name":                "English",
		"page.skip":                     "Skip to content",
		"page.footer":                   "%s · secure delivery of documents",
		"page.dev":                      "Development instance – no real data",
		"page.imprint":                  "Legal notice",
		"page.privacy":                  "Privacy",
		"page.home_link":                "Go to the home page",
		"page.home.title":               "Retrieve documents",
		"page.home.intro":               "Did you receive an e-mail with an access code? Enter the code here to open the documents.",
		"page.home.code_label":          "Access code",
		"page.home.code_hint":           "For example ABCD-EFGH-JKMN-PQRS. Upper or lower case, spaces and dashes do not matter.",
		"page.home.submit":              "Open documents",
		"page.home.wrong_code":          "There are no documents for this code. Please check the code in your e-mail.",
		"page.home.gone_code":           "The documents for this code are no longer available: they have expired or were withdrawn. Please contact the sender.",
		"page.transfer.title":           "Documents for you",
		"page.transfer.intro":           "%s sent you documents securely. They will be deleted on %s.",
		"page.transfer.save_hint":       "Please download the files and save them if you need them later.",
		"page.transfer.sender":          "Sender",
		"page.transfer.level":           "Security level",
		"page.transfer.expires":         "Available until",
		"page.transfer.files":           "Files",
		"page.transfer.download":        "Download",
		"page.transfer.download_label":  "Download %s (%s)",
		"page.transfer.signin_title":    "Sign-in required",
		"page.transfer.signin":          "These documents are specially protected. To open them, sign in with a one-time code that is sent to your e-mail address.",
		"page.level.1":                  "Level 1: access by link",
		"page.level.2":                  "Level 2: sign-in with a one-time code",
		"page.level.3":                  "Level 3: end-to-end encrypted",
		"page.level.4":                  "Level 4: end-to-end encrypted, message included",
		"page.error.not_found.title":    "This link is not valid or has expired",
		"page.error.not_found.text":     "Check that you copied the whole link, or enter the access code from the e-mail on the home page. If that does not help, please contact the sender of the e-mail.",
		"page.error.gone.title":         "These documents are no longer available",
		"page.error.gone.text":          "They have expired or were withdrawn by the sender. If you still need them, please contact the sender of the e-mail.",
		"page.error.rate_limited.title": "Too many attempts",
		"page.error.rate_limited.text":  "Please wait %s and then try again.",
		"page.error.csrf.title":         "This form has expired",
		"page.error.csrf.text":          "Please reload the page and try again.",
		"page.error.bad_request.title":  "The request is not valid",
		"page.error.bad_request.text":   "Please reload the page and try again.",
		"page.error.signin.title":       "Sign-in required",
		"page.error.signin.text":        "This file is specially protected. Open the link from your e-mail and sign in there.",
		"page.error.internal.title":     "Something went wrong",
		"page.error.internal.text":      "Please try again later. If the problem persists, please contact the sender of the e-mail.",
		"page.minutes":                  "%d minutes",
		"page.minute":                   "a minute",
	},
}

// formatSize writes a file size the way people read it: bytes below 1 KB,
// then KB, MB, GB with one decimal and the language's decimal separator.
func formatSize(lang string, n int64) string {
	if n < 1024 {
		if lang == "de" {
			return strconv.FormatInt(n, 10) + " Byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	units := []string{"KB", "MB", "GB", "TB"}
	f := float64(n) / 1024
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	s := strconv.FormatFloat(f, 'f', 1, 64)
	if lang == "de" {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + " " + units[u]
}

var monthNames = map[string][12]string{
	"de": {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
}

// formatDate writes a day as "2. Januar 2026" or "2 January 2026".
func formatDate(lang string, t time.Time) string {
	m := monthNames[lang]
	if lang == "de" {
		return fmt.Sprintf("%d. %s %d", t.Day(), m[t.Month()-1], t.Year())
	}
	m = monthNames["en"]
	return fmt.Sprintf("%d %s %d", t.Day(), m[t.Month()-1], t.Year())
}

// formatDateTime adds the time of day to formatDate.
func formatDateTime(lang string, t time.Time) string {
	if lang == "de" {
		return formatDate(lang, t) + ", " + t.Format("15:04") + " Uhr"
	}
	return formatDate(lang, t) + ", " + t.Format("15:04")
}
