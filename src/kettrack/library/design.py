"""Study design, species and sample size, decided for every article.

Where NLM has indexed a record, its publication types and MeSH decide
(:func:`indexed_design`): a type that names a design wins; a type that names a
kind of writing (Editorial, Comment, Letter, News...) makes it ``other``,
whatever its text says. Before indexing (most new records), title, abstract
and keywords do (:func:`text_design`). The vocabulary (docs/json.md, ``design``):
rct, trial, protocol, meta-analysis, systematic-review, review, observational,
case-report, preclinical, other.

The text rules read the abstract sentence by sentence and listen only to what
the paper says of itself: a sentence about other work ("randomized trials have
shown", "previous meta-analyses") or calling for it ("future RCTs are needed")
is set aside first. The cues follow the validated filters' wording (Haynes'
Clinical Queries therapy filter, the Cochrane highly sensitive search strategy
for RCTs) in the paper's own voice: "were randomly assigned", "a randomised,
double-blind trial". Pooled and future-tense designs are tested before primary
ones (a meta-analysis says "randomized" too). Decisions where the issue was
silent: a secondary analysis of a randomised trial is ``rct`` (its data are the
randomised comparison); a qualitative interview or focus-group study is
``observational``, never a trial, even when its participants came from one.
``bench/classifier_eval.py`` measures the rules against NLM's labels on real
MEDLINE records, on a development / held-out split.

Sample size (:func:`sample_size_of`) is the number randomised or included, not
the number screened; for a review, the participants of its included studies,
with the studies counted apart (:func:`studies_of`).
"""

from __future__ import annotations

import re

from kettrack.library.article import Article
from kettrack.text import sentences

DESIGNS = ("rct", "trial", "protocol", "meta-analysis", "systematic-review", "review",
           "observational", "case-report", "preclinical", "other")

#: NLM publication types, strongest first
_PT_RULES: list[tuple[str, set[str]]] = [
    ("meta-analysis", {"Meta-Analysis", "Network Meta-Analysis"}),
    ("systematic-review", {"Systematic Review"}),
    ("protocol", {"Clinical Trial Protocol"}),
    ("rct", {"Randomized Controlled Trial", "Equivalence Trial", "Pragmatic Clinical Trial"}),
    ("trial", {"Clinical Trial", "Clinical Trial, Phase I", "Clinical Trial, Phase II",
               "Clinical Trial, Phase III", "Clinical Trial, Phase IV", "Controlled Clinical Trial",
               "Adaptive Clinical Trial", "Clinical Trial, Veterinary"}),
    ("case-report", {"Case Reports"}),
    ("observational", {"Observational Study", "Twin Study"}),
    ("review", {"Review", "Scoping Review", "Narrative Review"}),
]
#: MeSH study-design descriptors NLM adds to observational studies that carry no
#: "Observational Study" publication type
_MESH_OBSERVATIONAL = {"Cohort Studies", "Retrospective Studies", "Prospective Studies",
                       "Cross-Sectional Studies", "Case-Control Studies", "Longitudinal Studies",
                       "Follow-Up Studies", "Registries", "Health Surveys"}
_ANIMALS = {"Animals", "Rats", "Mice", "Rats, Sprague-Dawley", "Rats, Wistar", "Rats, Long-Evans",
            "Mice, Inbred C57BL", "Macaca mulatta", "Disease Models, Animal"}
#: publication types that name a kind of writing, not a study: never an RCT, whatever the text
NOT_A_STUDY = {"Editorial", "Comment", "Letter", "News", "Newspaper Article", "Interview",
               "Biography", "Portrait", "Autobiography", "Published Erratum",
               "Retraction of Publication",
               "Expression of Concern", "Lecture", "Address", "Patient Education Handout",
               "Personal Narrative", "Congress", "Introductory Journal Article"}


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# -- text rules -----------------------------------------------------------------
# Read sentence by sentence. A sentence about *other* work ("randomized trials
# have shown", "previous meta-analyses", "future RCTs are needed") says nothing
# about this paper's design and is set aside before the design cues are read;
# the cues themselves follow the wording of the validated filters (Haynes'
# Clinical Queries therapy filter: randomized controlled trial, randomized,
# placebo, double-blind; the Cochrane highly sensitive strategy: randomized,
# placebo, randomly, trial, groups) but ask for this paper's own voice: "were
# randomly assigned", "a randomised, double-blind trial", "we randomized".
# A secondary analysis of a randomised trial is classed rct (its data come from
# the randomised comparison; the badge says RCT, the abstract says secondary).

_CALL_WORDS = _rx(r"\b(?:future|further|larger|well-designed|adequately powered|"
                  r"needed|warranted|required?|necessary|should|recommend\w*|remains?|lacking|"
                  r"lack|awaited|ongoing)\b")
_TRIAL_WORDS = _rx(r"\b(?:randomi[sz]ed|randomi[sz]ation|placebo|double-blind|trials?|RCTs?|"
                   r"meta-analys[ie]s|systematic reviews?)\b")
_TRIALS_NEEDED = _rx(r"\b(?:trials?|RCTs?|studies) (?:are|is|would be|remains?) (?:still )?"
                     r"(?:needed|warranted|required|necessary|lacking|scarce)")
#: substrings every sentence that _CALL_WORDS/_OTHER_WORK could set aside contains
_DESIGN_WORDS = ("random", "placebo", "blind", "trial", "rct", "meta-", "meta ", "systematic",
                 "studies")
#: the literature, not this paper: plural trials, "previous", "have shown"
_OTHER_WORK = _rx(r"\b(?:randomi[sz]ed|controlled|clinical|placebo-controlled|double-blind|"
                  r"blinded) (?:controlled |clinical )?(?:trials|studies)\b|\bRCTs\b|"
                  r"\b(?:previous|prior|earlier|published|existing|several|many|recent|other|"
                  r"most|few|no) (?:\w+ ){0,3}?(?:randomi[sz]ed|trials?|RCTs?|meta-analys[ie]s|"
                  r"systematic reviews?)\b|\bmeta-analyses\b|\bsystematic reviews (?:are|have)\b")
_OWN_RANDOMISED = _rx(
    r"\b(?:were|was|been|being|are|is|then) (?:\w+ly )?(?:randomi[sz]ed|randomly (?:assigned|"
    r"allocated|divided|distributed|split|placed))\b|\bwe randomi[sz]ed\b|"
    r"\brandomly (?:assigned|allocated|divided)\b|\brandom (?:assignment|allocation)\b|"
    r"(?<!mendelian )\b(?:randomi[sz]ation|prerandomi[sz]ation)\b|"
    r"\brandomi[sz]ed,? (?:\w+[-,]? ){0,6}?(?:trial|study|design|fashion|manner|order|"
    r"sequence|crossover|comparison|pilot)\b|"
    r"\b(?:double|single|triple)[- ](?:blind|masked)(?:ed)?\b|"
    r"(?<!not )(?<!non-)\b(?:placebo|sham|vehicle)[- ]controlled\b|\bRCT\b")
_QUALITATIVE = _rx(r"\bqualitative (?:study|research|analysis|interview|descriptive|"
                   r"approach|design|methods?|exploration|inquiry)|"
                   r"\bsemi-?structured interviews?\b|"
                   r"\bin-depth interviews?\b|\bfocus groups?\b|\bthematic(?:ally)? analy[sz]\w+\b|"
                   r"\binterpretative phenomenological\b|\bgrounded theory\b")
_META = _rx(r"\bmeta-?analy(?:sis|tic|[sz]ed)\b|\bmeta-?regression\b|\bnetwork meta\b|"
            r"\bpooled (?:analysis|estimates?|odds|risk|relative|hazard|effect|prevalence|"
            r"sensitivity|mean)\b")
_SYSTEMATIC = _rx(r"\bsystematic(?:ally)? review(?:ed)?\b|\bPRISMA\b|\bscoping review\b|"
                  r"\bumbrella review\b|\brapid review\b|\bsystematic(?:ally)? search(?:ed)?\b|"
                  r"\bsystematic literature\b|\bsearched (?:the )?(?:\w+ ){0,4}?(?:MEDLINE|"
                  r"PubMed|Embase|Cochrane|Web of Science|Scopus|PsycINFO|CINAHL|databases?)\b|"
                  r"\b(?:databases?|literature) (?:were|was) (?:\w+ly )?searched\b|"
                  r"\bliterature search (?:of|in|was|using|through)\b|"
                  r"\b(?:eligible|included|relevant) (?:\w+ ){0,2}?(?:studies|articles|trials) "
                  r"(?:were|was) (?:identified|included|selected|retrieved|analy[sz]ed)\b|"
                  r"\bstudies (?:were )?(?:included|met the inclusion)\b")
_PROTOCOL = _rx(r"\b(?:study|trial) protocol\b|\bprotocol (?:for|of) (?:a|an|the)\b|"
                r"\bwill be (?:randomi[sz]ed|recruited|enrolled|allocated|assigned)\b|"
                r"\b(?:this|the) (?:trial|study) will\b")
_TRIAL = _rx(r"\bopen[- ]label\b|\bphase (?:1|2|3|4|I|II|III|IV|1/2|2/3|I/II|II/III)\b|"
             r"\bpilot (?:study|trial)\b|\bclinical trial\b|\bsingle[- ]arm\b|"
             r"\bnon-?randomi[sz]ed\b|\bproof[- ]of[- ]concept\b|\bfeasibility (?:study|trial)\b|"
             r"\btrial registration\b|\bcontrolled trial\b")
_OBSERVATIONAL = _rx(r"\bcohort\b|\bretrospective\b|\bprospective(?:ly)? (?:study|studied|"
                     r"observational|followed|collected|enrolled)\b|\bcross-sectional\b|"
                     r"\bcase-control\b|\bchart review\b|\bregistry\b|\bobservational\b|"
                     r"\bsurvey\b|\bquestionnaire\b|\belectronic health records?\b|\bclaims data\b|"
                     r"\bnationwide\b|\bpopulation-based\b|\bcase series\b|\bdatabase\b|"
                     r"\bmendelian randomi[sz]ation\b")
#: a title that names its own observational design ("...: a population-based study")
_OBSERVATIONAL_TITLE = _rx(r"\b(?:cohort|case-control|cross-sectional|population-based|"
                           r"register-based|registry-based|retrospective|prospective|longitudinal|"
                           r"observational|nationwide) (?:\w+ )?(?:study|analysis|survey)\b")
_WORD_COUNT = r"(?:an?|one|two|three|four|five|six|seven|eight|nine|\d)"
_CASE = _rx(
    r"\bcase report\b|\breport of (?:an? )?(?:\w+ ){0,2}?cases?\b|"
    r"\bcases? (?:is|are|was|were) (?:\w+ly )?(?:described|reported|presented)\b|"
    rf"\b(?:we|authors?|i) (?:\w+ly )?(?:report|describe|present)(?:ed)? (?:here )?{_WORD_COUNT} "
    r"(?:(?!series\b)\w+ ){0,4}?(?:cases?|patients?|man|woman|boy|girl|child|infant|neonate|"
    r"newborn|male|"
    r"female|family|siblings|twins|brothers|sisters|adolescent)\b|"
    r"\b(?:an?|the|one|our) (?:\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:years?|yrs?|months?|weeks?|days?)"
    r"[- ]old,? (?:\w+ ){0,3}?"
    r"(?:man|woman|male|female|boy|girl|patient|child|infant|neonate|lady|gentleman)\b|"
    rf"\b(?:an?|one|two|three) (?:\w+ ){{0,2}}?cases? of\b|"
    r"\b(?:this|the|our) (?:article|paper|report) (?:\w+ ){0,1}?(?:presents|describes|reports) "
    r"(?:\w+ ){0,3}?(?:cases?|patients?|children|survivors)\b|\bsubjects? of this report\b|"
    rf"\b{_WORD_COUNT} (?:\w+ ){{0,3}}?(?:patients|children|cases|adults|infants|veterans|"
    rf"men|women|boys|girls|siblings)(?: \w+){{0,3}} "
    r"(?:are|were) (?:\w+ly )?(?:described|reported|presented)\b|"
    r"\bwe (?:\w+ly )?(?:report|describe|present) the case\b|"
    r"\bthe patient (?:was|had|received|presented|developed|underwent|made|died|recovered|"
    r"remained|became)\b|"
    r"\b(?:an?|the) (?:\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:years?|months?)[- ]old\b|"
    r"(?:^|[.:;] )(?:he|she) (?:was|had|presented|developed|underwent|received|complained|"
    r"reported|died|recovered|remained|required|denied)\b|"
    r"\b(?:he|she) (?:\w+ly )?(?:presented (?:to|with)|was (?:admitted|referred|"
    r"transferred|diagnosed))\b|\bwho was (?:\w+ly )?(?:admitted|referred|transferred)\b|"
    r"\b(?:an?|this) (?:\w+ )?(?:rare|unusual|unique|atypical|exceptional|uncommon|interesting|"
    r"challenging) (?:\w+ )?case\b|\bcase (?:presentation|description|summary|history|details)\b|"
    r"\bcomplain(?:ed|ing|s) of\b|\bphysical examination (?:revealed|showed|demonstrated)\b")
_NOT_A_CASE = _rx(r"\bcases?[- ](?:control|study|studies|series|mix|definitions?|fatality)\b")
_CASE_STRONG = _rx(r"\bcase report\b|\b(?:\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:years?|yrs?)[- ]old,? "
                   r"(?:man|woman|male|female|boy|girl|patient)\b|"
                   r"\b(?:an?|one) (?:\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:years?|months?)[- ]old\b")
#: a title that names one patient: "... in a patient with ...", "a case of ..."
_CASE_TITLE = _rx(r"\bin an? (?:\w+ ){0,3}?(?:patient|man|woman|boy|girl|child|infant|neonate|"
                  r"adolescent)\b|\b(?:an?|one) (?:\w+ ){0,2}?case of\b|"
                  r"\b(?:a|an|one) (?:\d{1,3}|[a-z]+(?:-[a-z]+)?)[- ](?:years?|months?)[- ]old\b")
#: an abstract that opens by saying it is an editorial, a commentary or a letter
_WRITING = _rx(r"(?:^|[.:?!] )(?:[A-Z]+: )?(?:in )?this (?:editorial|commentary|comment|letter|"
               r"viewpoint|opinion piece|essay)\b|"
               r"^(?:an? )?(?:\w+ )?report (?:from|on|of) (?:the )?(?:\w+ ){0,6}?(?:conference|"
               r"meeting|symposium|workshop|congress)\b")
#: "review" that is not a review article: chart reviews, review boards
_NOT_REVIEW = _rx(r"\b(?:retrospective|chart|record|file|case|medical|clinical|systematic|"
                  r"peer|ethics?|institutional|internal) (?:\w+ )?review\w*\b|\breview boards?\b|"
                  r"\breview(?:ed|ing)? (?:of )?(?:the )?(?:\d[\d,]*|all|consecutive|electronic|"
                  r"medical|patient|hospital|their|our) ")
_REVIEW_CUE = _rx(
    r"\b(?:this|the present|the current|narrative|literature|critical|brief|short|mini-?|"
    r"comprehensive|rapid|integrative|meeting|historical|updated?) review\b|\bin this review\b|"
    r"\breview(?:s|ed)? (?:of )?(?:the )?(?:recent|current|existing|available|published)? ?"
    r"(?:literature|evidence|advances|knowledge|developments|progress|findings|studies|reports|"
    r"research|publications)\b|"
    r"\b(?:we|i|authors?) (?:will )?(?:\w+ly )?(?:review|summari[sz]e|overview)\b|"
    r"\b(?:is|are|were|was|be|been) (?:also )?(?:\w+ly )?(?:reviewed|summari[sz]ed)\b|"
    r"\b(?:this|the present) (?:article|paper|chapter|overview|update|commentary|work) "
    r"(?:\w+ ){0,2}?(?:reviews?|summari[sz]es|discusses|highlights|focuses|outlines)\b|"
    r"\b(?:an )?overview (?:of|on)\b|\bstate[- ]of[- ]the[- ]art\b|"
    r"\brecent (?:advances|developments|progress|insights)\b")
#: the paper calls itself a review: "In this review", "we review", "this article reviews"
_REVIEW_SELF = _rx(r"\b(?:this|the present|the current|our) (?:\w+ )?(?:review|overview)\b|"
                   r"\bwe (?:\w+ly )?(?:review|overview|summari[sz]e)\b|"
                   r"\b(?:this|the present) (?:article|paper|chapter|work|manuscript) "
                   r"(?:\w+ ){0,2}?(?:reviews|summari[sz]es|provides an overview)\b")
#: what reviews also say, but primary papers too ("the implications are discussed")
_REVIEW_WEAK = _rx(
    r"\b(?:we|i|authors?) (?:will )?(?:\w+ly )?(?:discuss|outline|highlight)\b|"
    r"\b(?:is|are|were|was|be|been) (?:also )?(?:\w+ly )?(?:discussed|outlined|highlighted)\b|"
    r"\brecent (?:findings|studies|research|data|evidence|literature)\b|\bcurrent (?:knowledge|"
    r"understanding|concepts|state|status|evidence|literature|views?)\b|\bfuture (?:directions|"
    r"perspectives|prospects)\b|\b(?:the )?literature (?:on|about|regarding|suggests|shows)\b")
_REVIEW_TITLE = _rx(r"\breview\b|\boverview\b|\bstate of the art\b|\bupdate (?:on|in)\b|"
                    r"^(?:\W*)(?:recent )?(?:advances|progress|new insights|developments) (?:in|on|"
                    r"into)\b|\ba primer\b|\ban update\b|"
                    r"\bcurrent (?:concepts|perspectives|status|understanding)\b|"
                    r"\bperspectives?\b|\bfrom \w+ to \w+\b|\b\d+ years on\b")
#: this paper reports its own data
_PRIMARY = _rx(
    r"\bwe (?:\w+ly )?(?:investigated|examined|measured|found|observed|studied|analy[sz]ed|"
    r"assessed|evaluated|compared|enrolled|recruited|performed|conducted|determined|identified|"
    r"tested|obtained|collected|included|followed|surveyed|interviewed|treated|administered|"
    r"quantified|calculated|detected|designed|prepared|synthesi[sz]ed|cloned|generated|"
    r"characteri[sz]ed|show|showed|demonstrate[ds]?|report|used|estimated|sought|aimed|propose|"
    r"developed|present)\b|"
    r"\b(?:was|were) (?:\w+ly )?(?:measured|performed|analy[sz]ed|assessed|evaluated|enrolled|"
    r"recruited|examined|determined|collected|obtained|treated|observed|detected|followed|"
    r"calculated|recorded|administered|compared|identified|studied|interviewed|surveyed|tested|"
    r"quantified|estimated|conducted|found|noted|seen|significantly)\b|"
    r"\bp\s*[<=>\u2264]\s*0?\.\d|\b95\s*%|\(n\s*=|\b(?:this|the present|our) (?:study|"
    r"investigation|experiment)\b|\bour (?:results|findings|data)\b")
_PERCENT = re.compile(r"\b\d+(?:\.\d+)?\s*%")
_ANIMAL_TEXT = _rx(r"\b(?:rats?|mice|mouse|murine|rodents?|primates?|macaques?|zebrafish|"
                   r"dogs?|canine|cats?|feline|pigs?|piglets?|swine|porcine|sheep|ewes?|lambs?|"
                   r"cattle|cows?|heifers?|calves|bovine|horses?|equine|mares?|chickens?|broilers?|"
                   r"rabbits?|hamsters?|guinea pigs?|ferrets?|"
                   r"in vitro|animal models?|drosophila|c57bl/6|sprague-dawley|wistar|"
                   r"long-evans|cell cultures?|cell lines?)\b")
_HUMAN_TEXT = _rx(r"\b(?:patients?|participants?|adults?|veterans?|volunteers?|"
                  r"individuals|inpatients?|outpatients?|women|men|humans?|clinicians|"
                  r"people|persons|subjects with)\b")
_TRIAL_ID_TEXT = _rx(r"\bNCT\d{8}\b|\bISRCTN\d+|\bACTRN\d+|\bEudraCT\b|\bChiCTR|\bDRKS\d+|"
                     r"\bIRCT\d+|\bCTRI/|\bjRCT")

_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = ({w: i for i, w in enumerate(_UNITS)}
                 | {w: 10 * (i + 2) for i, w in enumerate(_TENS)})
_WORD_NUMBER = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
                r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine))?|"
                r"eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|"
                r"ten|six|seven|eight|nine)")
_PEOPLE = (r"(?:patients|participants|subjects|individuals|adults|veterans|volunteers|people|"
           r"inpatients|outpatients|drinkers|men|women|persons|cases|rats|mice|animals|"
           r"monkeys|primates|children|adolescents|infants|students|smokers|users|respondents|"
           r"residents|survivors|pairs|couples|twins|controls|youths?)")
_COUNT = rf"(\d{{1,3}}(?:,\d{{3}})+|\d{{1,6}}|{_WORD_NUMBER}(?:[- ](?:hundred|thousand))?)"
# words between a count and its noun: "90 hazardous or harmful drinkers", never a
# number, a unit or a verb ("12 weeks in patients", "11 studies including 854 adults")
_QUALIFIER = (r"(?!(?:weeks?|days?|months?|years?|hours?|minutes?|sessions?|doses?|mg|times|of|"
              r"in|with|per|from|to|at|for|on|among|including|included|studies|trials|were|was|"
              r"who|that|and|or)\b)[a-z][\w-]*")
_SAMPLE = re.compile(
    rf"(?<![\w.,])(?:[Nn]\s*=\s*(\d{{1,3}}(?:,\d{{3}})+|\d{{1,6}})(?![\d.])|"
    rf"{_COUNT}\s+(?:{_QUALIFIER}\s+(?:(?:and|or)\s+)?){{0,3}}?{_PEOPLE}\b)",
    re.IGNORECASE,
)
#: what follows a count that was only screened, not studied
_SCREENED_AFTER = _rx(r"^[^.;]{0,30}?\b(?:were |was |had been )?(?:screened|assessed for "
                      r"eligibility|approached|invited|contacted|excluded|declined|ineligible|"
                      r"potentially eligible|identified|retrieved)\b")
_SCREENED_BEFORE = _rx(r"\b(?:screened|screening|approached|invited|contacted|excluded|"
                       r"declined|assessed)\s+(?:\w+\s+){0,2}$")
_RANDOMISED_AFTER = _rx(r"^[^.;]{0,40}?\b(?:were|was|being) (?:\w+ly )?(?:randomi[sz]ed|"
                        r"randomly|allocated|assigned)\b")
_RANDOMISED_BEFORE = _rx(r"\b(?:randomi[sz]ed|randomi[sz]ing|randomly assigned|allocated)\s+"
                         r"(?:\w+\s+){0,2}$")
_INCLUDED_AFTER = _rx(r"^[^.;]{0,60}?\b(?:were|was) (?:\w+ly )?(?:included|enrolled|recruited|"
                      r"analy[sz]ed|studied|followed|treated|evaluated)\b|^[^.;]{0,60}?\b(?:took "
                      r"part|participated|completed)\b")
_INCLUDED_BEFORE = _rx(r"\b(?:enrolled|included|recruited|comprised|comprising|total of|sample of|"
                       r"cohort of|involving|analy[sz]ed|studied)\s+(?:\w+\s+){0,2}$")
#: "23 were included": a count with a verb and no noun
_STUDY_NOUN = r"(?:studies|trials|RCTs|articles|papers|reports|publications|cohorts|records)"
_BARE_INCLUDED = _rx(rf"(?<![\w.,]){_COUNT}\s+(?:(?!{_STUDY_NOUN}\b|of\b)\w+\s+)?(?:were|was) "
                     r"(?:\w+ly )?(?:included|enrolled|randomi[sz]ed|recruited|analy[sz]ed)\b")
#: "Eleven studies", "23 randomised trials": how many studies a review pooled
_STUDIES = _rx(rf"(?<![\w.,]){_COUNT}\s+(?:of\s+(?:the\s+)?[\d,]+\s+)?(?:{_QUALIFIER}\s+){{0,3}}?"
               rf"{_STUDY_NOUN}\b")
REVIEW_DESIGNS = ("meta-analysis", "systematic-review", "review")

# -- structured-abstract labels ------------------------------------------------------
# Journals that publish a kind of article under its own abstract headings say the
# design in the headings: JAMA's and the Annals' systematic reviews (Data Sources,
# Study Selection, Data Extraction, Data Synthesis), the Expert Opinion and Current
# Opinion reviews (Areas covered, Expert opinion, Purpose of review, Recent findings),
# BMJ's British Medical Bulletin (Sources of data, Areas of agreement...), and case
# reports written to the CARE guideline (Case presentation, Patient concerns...).
_SYSTEMATIC_LABELS = {"DATA SOURCES", "DATA SOURCE", "STUDY SELECTION", "DATA EXTRACTION",
                      "DATA SYNTHESIS", "EVIDENCE ACQUISITION", "EVIDENCE SYNTHESIS",
                      "SEARCH METHODS", "SEARCH STRATEGY", "SELECTION CRITERIA",
                      "ELIGIBILITY CRITERIA", "DATA COLLECTION AND ANALYSIS",
                      "INFORMATION SOURCES", "SYSTEMATIC REVIEW REGISTRATION"}
_REVIEW_LABELS = {"AREAS COVERED", "EXPERT OPINION", "EXPERT COMMENTARY", "PURPOSE OF REVIEW",
                  "RECENT FINDINGS", "SOURCES OF DATA", "AREAS OF AGREEMENT",
                  "AREAS OF CONTROVERSY", "GROWING POINTS", "AREAS TIMELY FOR DEVELOPING RESEARCH",
                  "SCOPE OF REVIEW", "MAJOR CONCLUSIONS", "KEY MESSAGES", "EVIDENCE REVIEW",
                  "REVIEW", "LITERATURE REVIEW"}
_CASE_LABELS = {"CASE REPORT", "CASE REPORTS", "CASE PRESENTATION", "CASE PRESENTATIONS",
                "CASE DESCRIPTION", "CASE SUMMARY", "CASE HISTORY", "CASE DETAILS", "CASE",
                "CASES", "CASE OUTLINE", "CLINICAL CASE", "PATIENT CONCERNS", "CASE STUDY",
                "PRESENTATION OF CASE", "CASE DISCUSSION", "OBSERVATION", "OBSERVATIONS"}
#: a design heading whose text names a review ("DESIGN: Review of published studies")
_REVIEW_DESIGN_TEXT = _rx(r"^(?:an? )?(?:(?:narrative|literature|critical|comprehensive|brief|"
                          r"selective|historical|clinical|educational|invited|updated?) )?"
                          r"(?:review|overview)\b(?! of (?:the )?(?:\d|all|consecutive|medical|"
                          r"patient|hospital|charts?|records?|cases?|a (?:prospective|"
                          r"retrospective|database|registry|cohort)))")


def classify(article: Article) -> Article:
    """Set ``design``, ``species``, ``sample_size`` and ``studies`` on ``article`` (and
    return it)."""
    article.design = design_of(article)
    article.species = species_of(article)
    article.sample_size = sample_size_of(article)
    article.studies = studies_of(article)
    return article


def design_of(article: Article, *, use_indexing: bool = True) -> str:
    """The design from NLM's indexing when it decides, else from text.

    With ``use_indexing=False`` publication types and MeSH are ignored, as if
    the record had just arrived (the classifier evaluation uses this).
    """
    if use_indexing:
        decided = indexed_design(article)
        if decided is not None:
            return decided
    return text_design(article)


def indexed_design(article: Article) -> str | None:
    """The design NLM's publication types and MeSH give, or None when they are silent.

    Animals without Humans in MeSH means preclinical; otherwise the strongest
    design publication type wins; a publication type that names a kind of
    writing, not a study (Editorial, Comment, Letter, News...), makes it
    ``other`` whatever its text says; MeSH study-design headings (Cohort
    Studies, Retrospective Studies...) mean observational.
    """
    types = {p.name for p in article.publication_types}
    mesh = {m.descriptor for m in article.mesh}
    if mesh & _ANIMALS and "Humans" not in mesh:
        return "preclinical"
    for design, names in _PT_RULES:
        if types & names:
            return design
    if types & NOT_A_STUDY:
        return "other"
    if mesh & _MESH_OBSERVATIONAL:
        return "observational"
    return None


def _read_sentences(article: Article) -> tuple[list[str], list[str]]:
    """The abstract's and keywords' sentences without calls for future work
    ("randomized trials are needed"), and of those the ones that speak of this
    paper, not of other work ("previous trials showed")."""
    stated, own = [], []
    for section in article.abstract_sections:
        for sentence in sentences(section.text):
            lower = sentence.lower()
            # most sentences name no design at all: skip the regexes for them
            if not any(word in lower for word in _DESIGN_WORDS):
                stated.append(sentence)
                own.append(sentence)
                continue
            call = _CALL_WORDS.search(sentence)
            if (call and _TRIAL_WORDS.search(sentence, call.end())) or _TRIALS_NEEDED.search(
                    sentence):
                continue
            stated.append(sentence)
            if _OTHER_WORK.search(sentence) and not _OWN_RANDOMISED.search(
                    _OTHER_WORK.sub(" ", sentence)):
                continue
            own.append(sentence)
    if article.keywords:
        stated.append(" ; ".join(article.keywords))
        own.append(stated[-1])
    return stated, own


#: words one of which every match of a cue contains: a text without any is not searched
#: (most abstracts name no design; the gates keep the rules cheap on a 100k library)
_GATES: dict[re.Pattern[str], tuple[str, ...]] = {
    _META: ("meta", "pooled"),
    _SYSTEMATIC: ("systematic", "prisma", "scoping", "umbrella", "rapid review", "search",
                  "studies", "articles", "trials"),
    _PROTOCOL: ("protocol", "will"),
    _OWN_RANDOMISED: ("random", "blind", "masked", "controlled", "rct"),
    _QUALITATIVE: ("qualitative", "interview", "focus group", "thematic", "phenomenolog",
                   "grounded theory"),
    _CASE: ("case", "old", "report", "describ", "present", "patient", "she ", " he ", "complain",
            "examination", "admitted", "referred", "transferred", "diagnosed"),
    _CASE_STRONG: ("case report", "old"),
    _REVIEW_CUE: ("review", "summari", "overview", "state", "recent"),
    _TRIAL: ("label", "phase", "pilot", "trial", "single", "random", "proof", "feasib"),
    _OBSERVATIONAL: ("cohort", "retrospective", "prospective", "cross-sectional",
                     "case-control", "chart", "registry", "observational", "survey",
                     "questionnaire", "health record", "claims", "nationwide", "population",
                     "series", "database", "mendelian"),
}


def _found(pattern: re.Pattern[str], text: str, lower: str) -> bool:
    gate = _GATES.get(pattern)
    if gate is not None and not any(word in lower for word in gate):
        return False
    return pattern.search(text) is not None


def text_design(article: Article) -> str:
    """The design from title, abstract, keywords and trial registration numbers alone."""
    title = article.title
    stated_sentences, own = _read_sentences(article)
    stated = " ".join(stated_sentences)
    body = " ".join(own)
    text = f"{title} {body}"
    low_title, low_stated, low_body, low_text = (
        title.lower(), stated.lower(), body.lower(), text.lower())
    if _is_preclinical(title, f"{title} {article.abstract}"):
        # a review of animal work is a review: its title or its own voice says so
        return _review_named(title, body) or "preclinical"
    qualitative = _found(_QUALITATIVE, text, low_text)
    if _WRITING.search(article.abstract):
        return "other"
    if _found(_META, title, low_title):
        return "meta-analysis"
    if _found(_SYSTEMATIC, title, low_title):
        return "systematic-review"
    if _found(_PROTOCOL, title, low_title):
        return "protocol"
    if _found(_OWN_RANDOMISED, title, low_title) and not qualitative:
        return "protocol" if _found(_PROTOCOL, body, low_body) else "rct"
    if _found(_CASE, _NOT_A_CASE.sub(" ", title), low_title) or _CASE_TITLE.search(title):
        return "case-report"
    if _OBSERVATIONAL_TITLE.search(title) and not _found(_REVIEW_CUE, title, low_title):
        return "observational"
    labelled = _labelled_design(article)
    if labelled is not None:
        return labelled
    untitled = _NOT_REVIEW.sub(" ", title) if "review" in low_title else title
    review_title = bool(_REVIEW_TITLE.search(untitled))
    if review_title and "review" in untitled.lower():
        return "review"
    if _found(_META, stated, low_stated):  # singular: "meta-analyses have shown" is other work
        return "meta-analysis"
    if _found(_CASE_STRONG, body, low_body):
        return "case-report"
    if _found(_SYSTEMATIC, stated, low_stated):
        return "systematic-review"
    if _found(_PROTOCOL, body, low_body):
        return "protocol"
    if qualitative:
        return "observational"
    if _found(_OWN_RANDOMISED, body, low_body):
        return "rct"
    if _found(_CASE, _NOT_A_CASE.sub(" ", body) if "case" in low_body else body, low_body):
        return "case-report"
    reviewed = _NOT_REVIEW.sub(" ", body) if "review" in low_body else body
    reviewing = len(_REVIEW_CUE.findall(reviewed)) if _found(
        _REVIEW_CUE, reviewed, low_body) else 0
    if review_title or reviewing:
        weak = len(_REVIEW_WEAK.findall(reviewed))
        primary = len(_PRIMARY.findall(body))
        if review_title and primary <= 2 * (reviewing + weak) + 1:
            return "review"
        measured = primary + len(_PERCENT.findall(body))
        if reviewing and measured <= reviewing + weak:
            return "review"
        # a paper that calls itself a review may still quote dates and figures of others
        if reviewing and _REVIEW_SELF.search(reviewed) and measured <= 4 * (reviewing + weak):
            return "review"
    registered = bool(article.nct_ids or article.other_trial_ids or _TRIAL_ID_TEXT.search(text))
    if _found(_TRIAL, text, low_text) or registered:
        return "trial"
    if _found(_OBSERVATIONAL, text, low_text):
        return "observational"
    return "other"


def _review_named(title: str, body: str) -> str | None:
    """The review design a title or the paper's own voice names ("X: a review",
    "In this review we..."), or None."""
    lower = title.lower()
    if _found(_META, title, lower):
        return "meta-analysis"
    if _found(_SYSTEMATIC, title, lower):
        return "systematic-review"
    untitled = _NOT_REVIEW.sub(" ", title) if "review" in lower else title
    if "review" in untitled.lower() and _REVIEW_TITLE.search(untitled):
        return "review"
    if "review" in body.lower() or "summari" in body.lower():
        reviewed = _NOT_REVIEW.sub(" ", body)
        if _REVIEW_SELF.search(reviewed) and not _PRIMARY.search(reviewed):
            return "review"
    return None


def _labelled_design(article: Article) -> str | None:
    """The design a structured abstract's headings name, or None.

    Headings a kind of article has of its own (see :data:`_CASE_LABELS`...), then
    what a DESIGN heading says ("STUDY DESIGN: A randomized controlled trial.")."""
    labels = {s.label.strip().upper() for s in article.abstract_sections if s.label}
    if not labels:
        return None
    if labels & _SYSTEMATIC_LABELS:
        return "systematic-review"
    if labels & _CASE_LABELS:
        return "case-report"
    if labels & _REVIEW_LABELS:
        return "review"
    for section in article.abstract_sections:
        if not section.label or "DESIGN" not in section.label.upper():
            continue
        text = section.text.strip()
        if _META.search(text):
            return "meta-analysis"
        if _SYSTEMATIC.search(text):
            return "systematic-review"
        if _REVIEW_DESIGN_TEXT.search(text):
            return "review"
        if _OWN_RANDOMISED.search(text) and not _PROTOCOL.search(text):
            return "rct"
        if "case report" in text.lower():
            return "case-report"
    return None


def _is_preclinical(title: str, text: str) -> bool:
    if _ANIMAL_TEXT.search(title) and not _HUMAN_TEXT.search(title):
        return True
    animal = len(_ANIMAL_TEXT.findall(text))
    human = len(_HUMAN_TEXT.findall(text))
    return animal > 0 and animal >= 2 * human


def species_of(article: Article) -> str | None:
    """"human", "animal", or None when neither MeSH nor the text says."""
    mesh = {m.descriptor for m in article.mesh}
    if "Humans" in mesh:
        return "human"
    if mesh & _ANIMALS:
        return "animal"
    text = f"{article.title} {article.abstract}"
    if _is_preclinical(article.title, text):
        return "animal"
    if _HUMAN_TEXT.search(text):
        return "human"
    return None


def _number(token: str) -> int | None:
    token = token.lower().replace(",", "")
    if token.isdigit():
        return int(token)
    scale = 1
    for word, factor in (("hundred", 100), ("thousand", 1000)):
        if token.endswith(word):
            token, scale = token[: -len(word)].strip(" -"), factor
    parts = re.split(r"[- ]", token)
    if all(p in _NUMBER_WORDS for p in parts):
        return sum(_NUMBER_WORDS[p] for p in parts) * scale
    return None


def _role(text: str, start: int, end: int) -> str:
    """What the count at ``text[start:end]`` counts, read within its sentence:
    screened, randomised, included or seen."""
    opening = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start)) + 1
    before, after = text[opening:start], text[end:end + 80]
    if _SCREENED_AFTER.search(after) or _SCREENED_BEFORE.search(before):
        return "screened"
    if _RANDOMISED_AFTER.search(after) or _RANDOMISED_BEFORE.search(before):
        return "randomised"
    if _INCLUDED_AFTER.search(after) or _INCLUDED_BEFORE.search(before):
        return "included"
    return "seen"


def _counts(text: str) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {"screened": [], "randomised": [], "included": [], "seen": []}
    for match in _SAMPLE.finditer(text):
        value = _number(match.group(1) or match.group(2))
        if value is not None and 0 < value < 10_000_000:
            found[_role(text, match.start(), match.end())].append(value)
    lower = text.lower()
    if not any(verb in lower for verb in ("included", "enrolled", "randomi", "recruited",
                                          "analysed", "analyzed")):
        return found
    for match in _BARE_INCLUDED.finditer(text):
        value = _number(match.group(1))
        if value is not None and 0 < value < 10_000_000:
            role = "randomised" if "random" in match.group().lower() else "included"
            found[role].append(value)
    return found


def sample_size_of(article: Article) -> int | None:
    """The participants (or animals) the study randomised or included.

    Read sentence by sentence: a count that was only screened ("Of 235 patients
    screened, 23 were included") is not the sample; a count randomised ("90
    hazardous or harmful drinkers ... were randomized") comes first, then one
    included, enrolled or analysed, then the largest count stated ("N=40",
    "forty-two adults", "1,204 veterans"). For a review it is the participants
    of the included studies; :func:`studies_of` counts the studies.
    """
    found = _counts(article.abstract)
    for role in ("randomised", "included", "seen"):
        if found[role]:
            return max(found[role])
    return None


def studies_of(article: Article) -> int | None:
    """How many studies a review (or meta-analysis) included, when its abstract says."""
    if article.design not in REVIEW_DESIGNS:
        return None
    text = article.abstract
    for match in _STUDIES.finditer(text):
        if _role(text, match.start(), match.end()) == "screened":
            continue
        value = _number(match.group(1))
        if value is not None and 0 < value < 100_000:
            return value
    return None
