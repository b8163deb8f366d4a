#!/usr/bin/env bash
# Ensures the system tools Scriptorium runs locally are present, installing the missing ones from
# Debian/Ubuntu apt (never gcloud: that one is only checked). Idempotent: with everything present it
# prints one line and touches nothing.
#
#   scripts/ensure-system-deps.sh                  # engines + emulator prerequisites
#   scripts/ensure-system-deps.sh --engines-only   # engine tools only (OCR, speech; no java/gcloud), e.g. unit-test CI
#   scripts/ensure-system-deps.sh --check          # report only, never install
#
# Needed by: the local OCR engine (tesseract + eng/osd data, plus ara/ind/deu/fra so Arabic scans
# are read as Arabic and Latin-script languages beyond English can be hinted; poppler's
# pdfinfo/pdftotext/pdftoppm/pdfimages, ffmpeg), the local speech engines (ffmpeg/ffprobe for
# media; pocketsphinx with its US English model for speech-to-text; flite, and festival with the
# HTS voice cmu_us_slt_arctic_hts, for text-to-speech; espeak-ng for the other languages, e.g. the
# Spanish of dubbed videos), video translation (apertium with the language pairs in
# APERTIUM_PAIRS), the Firestore and Pub/Sub emulators
# (java 17+, gcloud with both components).
set -euo pipefail

engines_only=0
check_only=0
for arg in "$@"; do
  case "$arg" in
    --engines-only) engines_only=1 ;;
    --check) check_only=1 ;;
    -h | --help)
      sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "ensure-system-deps: unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

have() { command -v "$1" >/dev/null 2>&1; }

# Major Java version from `java -version` ("17.0.15" -> 17, "1.8.0_392" -> 8); 0 when absent.
java_major() {
  have java || { echo 0; return; }
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | sed -n 1p)
  case "$v" in
    1.*) v=${v#1.} ;;
  esac
  v=${v%%[.+-]*}
  [[ "$v" =~ ^[0-9]+$ ]] && echo "$v" || echo 0
}

# Tesseract language data beyond eng/osd: Arabic (script detection picks it for Arabic pages),
# Indonesian, German, French (used when a document's language hints name them).
OCR_LANGUAGES=(ara ind deu fra)

# Where Debian's pocketsphinx-en-us and festvox-us-slt-hts put their files.
POCKETSPHINX_MODEL=/usr/share/pocketsphinx/model/en-us
FESTIVAL_SLT_VOICE=/usr/share/festival/voices/us/cmu_us_slt_arctic_hts

# Apertium language-pair packages (video translation, shared/engines/translate/local.ts) and the
# mode each installs under /usr/share/apertium/modes: English<->Spanish, English<->Catalan,
# English<->Galician, Spanish<->Portuguese.
APERTIUM_PAIRS=(apertium-eng-spa:eng-spa apertium-eng-cat:eng-cat apertium-en-gl:en-gl apertium-es-pt:es-pt)
APERTIUM_MODES=/usr/share/apertium/modes

tesseract_has_lang() {
  have tesseract && OMP_THREAD_LIMIT=1 tesseract --list-langs 2>/dev/null | tail -n +2 | grep -x "$1" >/dev/null
}

# Fills `missing` (human-readable) and `packages` (apt names) from the current state of the system.
missing=()
packages=()
need() { missing+=("$1"); [[ -n "${2:-}" ]] && packages+=("$2"); return 0; }

survey() {
  missing=()
  packages=()
  have tesseract || need tesseract tesseract-ocr
  tesseract_has_lang eng || need "tesseract language data: eng" tesseract-ocr-eng
  tesseract_has_lang osd || need "tesseract orientation data: osd" tesseract-ocr-osd
  local lang
  for lang in "${OCR_LANGUAGES[@]}"; do
    tesseract_has_lang "$lang" || need "tesseract language data: $lang" "tesseract-ocr-$lang"
  done
  local tool
  for tool in pdfinfo pdftotext pdftoppm pdfimages; do
    if ! have "$tool"; then
      need "$tool" poppler-utils
    fi
  done
  have ffmpeg || need ffmpeg ffmpeg
  have ffprobe || need ffprobe ffmpeg
  # Speech-to-text (shared/engines/stt/local.ts): the recognizer and the model files it is given.
  have pocketsphinx_continuous || need pocketsphinx_continuous pocketsphinx
  [[ -f "$POCKETSPHINX_MODEL/en-us.lm.bin" && -f "$POCKETSPHINX_MODEL/cmudict-en-us.dict" && -d "$POCKETSPHINX_MODEL/en-us" ]] ||
    need "pocketsphinx model: en-us" pocketsphinx-en-us
  # Text-to-speech: flite (voice kal16 is built in) and festival with the HTS voice.
  have flite || need flite flite
  have text2wave || need "festival (text2wave)" festival
  [[ -d "$FESTIVAL_SLT_VOICE" ]] || need "festival voice: cmu_us_slt_arctic_hts" festvox-us-slt-hts
  have espeak-ng || need espeak-ng espeak-ng
  # Video translation: the Apertium engine and its language pairs.
  have apertium || need apertium apertium
  local pair
  for pair in "${APERTIUM_PAIRS[@]}"; do
    [[ -f "$APERTIUM_MODES/${pair#*:}.mode" ]] || need "apertium pair: ${pair#*:}" "${pair%%:*}"
  done
  if ((engines_only == 0)); then
    (($(java_major) >= 17)) || need "java 17+ (found: $(java_major))" "$(java_package)"
  fi
}

# The newest headless JRE >= 17 apt knows about (after apt-get update).
java_package() {
  local candidate
  for candidate in openjdk-21-jre-headless openjdk-17-jre-headless; do
    if apt-cache show "$candidate" >/dev/null 2>&1; then
      echo "$candidate"
      return
    fi
  done
  echo openjdk-17-jre-headless
}

# gcloud is never installed from here: only checked, with the two emulator components.
check_gcloud() {
  if ! have gcloud; then
    echo "ensure-system-deps: gcloud is not installed. Install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install)" >&2
    echo "  with the Firestore and Pub/Sub emulators, e.g. apt-get install google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator" >&2
    return 1
  fi
  local root problems=()
  root=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")
  [[ -d "$root/platform/cloud-firestore-emulator" ]] || problems+=("cloud-firestore-emulator (apt: google-cloud-cli-firestore-emulator)")
  [[ -d "$root/platform/pubsub-emulator" ]] || problems+=("pubsub-emulator (apt: google-cloud-cli-pubsub-emulator)")
  # The Pub/Sub emulator is only under `gcloud beta` in this gcloud.
  [[ -f "$root/.install/beta.manifest" ]] || CLOUDSDK_CORE_DISABLE_PROMPTS=1 gcloud beta emulators pubsub --help >/dev/null 2>&1 || problems+=("beta (gcloud components install beta)")
  if ((${#problems[@]} > 0)); then
    echo "ensure-system-deps: gcloud ($root) lacks components: ${problems[*]}" >&2
    echo "  install them with apt, or: gcloud components install cloud-firestore-emulator pubsub-emulator beta" >&2
    return 1
  fi
}

summary() {
  local tess poppler ff
  # awk reads to the end: an early-exiting `head` would SIGPIPE the tool and trip pipefail.
  tess=$(tesseract --version 2>&1 | awk 'NR == 1 {print $2}')
  poppler=$(pdfinfo -v 2>&1 | awk 'NR == 1 {print $3}')
  ff=$(ffmpeg -version 2>/dev/null | awk 'NR == 1 {print $3}')
  local line="system deps OK: tesseract $tess (eng, osd, ${OCR_LANGUAGES[*]}), poppler $poppler, ffmpeg $ff, pocketsphinx (en-us), flite, festival (slt hts), espeak-ng, apertium (${#APERTIUM_PAIRS[@]} pairs)"
  ((engines_only == 0)) && line+=", java $(java_major), gcloud (firestore + pubsub emulators)"
  echo "$line"
}

survey
if ((${#missing[@]} > 0)); then
  if ((check_only == 1)); then
    echo "ensure-system-deps: missing: ${missing[*]}" >&2
    exit 1
  fi
  if ! have apt-get; then
    echo "ensure-system-deps: missing: ${missing[*]}; no apt-get here: install them with your package manager" >&2
    exit 1
  fi
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    have sudo || { echo "ensure-system-deps: missing: ${missing[*]}; not root and no sudo to install them" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "ensure-system-deps: installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Once: the package lists are needed to resolve the names (java_package included).
  # Retries ride out a flaky mirror; the lock timeout waits for an unattended upgrade instead of failing.
  "${sudo[@]}" apt-get -o Acquire::Retries=3 update -qq >&2 || { echo "ensure-system-deps: apt-get update failed" >&2; exit 1; }
  survey # re-resolve package names now that the lists are fresh
  mapfile -t unique < <(printf '%s\n' "${packages[@]}" | sort -u)
  if ! "${sudo[@]}" apt-get -o Acquire::Retries=3 -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${unique[@]}" >&2; then
    echo "ensure-system-deps: apt-get install ${unique[*]} failed" >&2
    exit 1
  fi
  survey
  if ((${#missing[@]} > 0)); then
    echo "ensure-system-deps: still missing after install: ${missing[*]}" >&2
    exit 1
  fi
fi

if ((engines_only == 0)); then
  check_gcloud || exit 1
fi
summary
