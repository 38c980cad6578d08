"""Provider keys with no self-identifying prefix: found by the provider's name nearby.

Each line of ``KEYED`` is ``kind keywords body``: ``keywords`` is a ``|``-separated list of
names matched case-insensitively, and the key (``body``) must follow within 80 characters.
Bodies are short codes (``H32`` = 32 hex digits, ``A40`` = 40 alphanumerics, ``U`` = a UUID,
``W43`` = 43 URL-safe base64 characters, ``L32`` = 32 lower-case alphanumerics) or a regex.
"""

from __future__ import annotations

import math
import re

from ._rule import PROVIDER, Rule, entropy, is_placeholder

_CODES = {
    "H": "[a-fA-F0-9]",
    "A": "[A-Za-z0-9]",
    "L": "[a-z0-9]",
    "W": r"[A-Za-z0-9_\-]",
    "B": "[A-Za-z0-9+/]",
    "D": "[0-9]",
    "N": "[A-Z0-9]",
}
_UUID = r"[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}"

KEYED = """
abuseipdb_key abuseipdb H80
adafruit_key adafruit|aio_key r:aio_[A-Za-z0-9]{28}
airbrake_key airbrake H32
airship_key airship|urbanairship W22
aiven_token aiven r:[A-Za-z0-9+/=]{372}
alchemy_key alchemy W32
alconost_key alconost A32
algolia_admin_key algolia H32
alienvault_key alienvault|otx H64
amplitude_key amplitude H32
apify_token apify r:apify_api_[A-Za-z0-9]{36}
apollo_key apollo W22
appfollow_key appfollow W30
appsignal_key appsignal U
appveyor_token appveyor r:v2\\.[a-z0-9]{20}
assemblyai_key assemblyai H32
atera_key atera H32
auth0_client_secret auth0 W64
autodesk_secret autodesk A16
aviationstack_key aviationstack L32
azure_devops_pat dev\\.azure|azure_devops|ado_pat|vsts r:[a-z2-7]{52}
axonaut_key axonaut L32
bannerbear_key bannerbear r:[A-Za-z0-9]{22}tt
baremetrics_key baremetrics W25
beebole_key beebole L40
besnappy_key besnappy H64
betterstack_token betterstack|betteruptime A24
bitfinex_key bitfinex r:[A-Za-z0-9_\\-]{43}
bitly_token bitly H40
bitmex_key bitmex W48
blocknative_key blocknative U
bombbomb_key bombbomb r:[A-Za-z0-9_\\-]{16,64}
box_token box_token|boxapi|box\\.com A32
browserstack_key browserstack A20
bugsnag_key bugsnag H32
buildkite_v1_token buildkite H40
bulksms_key bulksms r:[A-Za-z0-9]{29}
calendly_token calendly r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
captaindata_key captaindata H64
censys_secret censys A32
checkly_key checkly r:cu_[a-f0-9]{32}
cloudflare_api_key cloudflare|cf_api H37
cloudflare_api_token cloudflare|cf_api W40
cloudsmith_key cloudsmith H40
clickhelp_key clickhelp A24
clicksend_key clicksend r:[A-Z0-9]{8}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{12}
clockify_key clockify A48
cloudconvert_key cloudconvert r:[A-Za-z0-9_\\-.]{200,1000}
codeclimate_key codeclimate H40
cohere_key cohere A40
coinapi_key coinapi U
coinlayer_key coinlayer H32
coinmarketcap_key coinmarketcap|cmc_pro U
confluent_secret confluent r:[A-Za-z0-9+/]{64}
contentstack_token contentstack r:cs[a-f0-9]{24}
convertkit_key convertkit W22
currencycloud_key currencycloud H64
currencylayer_key currencylayer H32
datadog_api_key datadog|dd_api H32
datadog_app_key datadog|dd_app H40
deepgram_key deepgram H40
delighted_key delighted A32
deputy_key deputy L32
detectlanguage_key detectlanguage H32
diffbot_token diffbot L32
digitalocean_spaces_secret spaces_secret|do_spaces B43
disqus_key disqus A64
ditto_key ditto r:[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}\\.[a-f0-9]{40}
docusign_secret docusign U
dropbox_app_secret dropbox L15
dwolla_secret dwolla A50
eventbrite_token eventbrite N20
exchangerate_key exchangerate H24
facebook_app_secret facebook|fb_secret H32
facebook_app_token facebook r:\\d{15,16}\\|[A-Za-z0-9_\\-]{27}
fastly_token fastly W32
finage_key finage r:API_KEY[A-Z0-9]{32}
finnhub_key finnhub L20
flickr_key flickr H32
float_token float r:[a-f0-9]{16}[A-Za-z0-9+/]{25,40}={0,2}
formbucket_token formbucket r:[A-Za-z0-9_\\-.]{60,400}
freshbooks_token freshbooks H64
freshdesk_key freshdesk A20
frontapp_token frontapp r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
fullstory_key fullstory r:[A-Za-z0-9+/]{20,}={0,2}
geoapify_key geoapify H32
getresponse_key getresponse L32
gitter_token gitter H40
graphcms_token graphcms|hygraph r:[A-Za-z0-9_\\-.@]{100,2000}
harvest_token harvest r:\\d{7}\\.pt\\.[A-Za-z0-9_\\-]{86}
heroku_api_key heroku U
hubspot_api_key hubspot|hapikey U
hunter_key hunter\\.io|hunter_api H40
imagekit_key imagekit r:private_[A-Za-z0-9+/]{28}=
infura_secret infura H32
insightly_key insightly L36
instamojo_secret instamojo H32
intercom_token intercom r:[A-Za-z0-9+/]{59}=
ip2location_key ip2location N32
ipinfo_token ipinfo H14
ipstack_key ipstack H32
jotform_key jotform H32
kanban_key kanban N12
keen_io_key keen W64
klaviyo_key klaviyo r:pk_[a-zA-Z0-9]{34}
knapsackpro_token knapsack H32
kubernetes_bootstrap_token kubeadm|bootstrap-token r:[a-z0-9]{6}\\.[a-z0-9]{16}
kraken_key kraken B56
kucoin_secret kucoin U
lastfm_key lastfm|last\\.fm H32
launchdarkly_legacy launchdarkly U
lokalise_token lokalise H40
loyverse_token loyverse L32
mailjet_key mailjet H32
mailerlite_key mailerlite H32
mapquest_key mapquest A32
marketstack_key marketstack H32
mattermost_token mattermost L26
meaningcloud_key meaningcloud L32
messagebird_key messagebird A25
meraki_key meraki H40
metaapi_token metaapi H64
microsoft_teams_secret msteams|ms_teams W40
mite_key mite L16
mixpanel_secret mixpanel A32
monday_token monday r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
monkeylearn_key monkeylearn H40
moralis_key moralis A64
nasdaq_key nasdaq|quandl W20
nexmo_secret nexmo|vonage A16
nftport_key nftport r:[a-z0-9]{8}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{12}
ngrok_token ngrok r:[0-9a-zA-Z]{25,27}_[0-9a-zA-Z]{20,21}
nightfall_key nightfall r:NF-[A-Za-z0-9]{32}
npm_legacy_token npm_token|npmrc|_authtoken U
okta_token okta r:00[A-Za-z0-9_\\-]{40}
omnisend_key omnisend r:[a-f0-9]{24}-[A-Za-z0-9]{50}
onesignal_key onesignal r:[A-Za-z0-9]{48}|[a-f0-9]{8}(?:-[a-f0-9]{4}){3}-[a-f0-9]{12}
openweather_key openweather H32
opsgenie_key opsgenie U
optimizely_token optimizely r:[A-Za-z0-9_\\-:]{50,60}
pagerduty_key pagerduty r:[A-Za-z0-9_+\\-]{20}
pandadoc_key pandadoc H40
paralleldots_key paralleldots A43
parsehub_key parsehub A12
paymongo_key paymongo W32
paypal_secret paypal W80
paystack_secret paystack r:sk_(?:live|test)_[a-z0-9]{40}
pipedrive_token pipedrive H40
plaid_secret plaid H30
pivotal_token pivotal H32
positionstack_key positionstack H32
postageapp_key postageapp A32
postmark_token postmark U
prefect_key prefect r:pnu_[A-Za-z0-9]{36}
pusher_secret pusher H20
rapidapi_key rapidapi W50
raven_key raven|ravendb A43
razorpay_secret razorpay A24
rebrandly_key rebrandly H32
recurly_key recurly H32
refiner_key refiner U
repairshopr_key repairshopr W51
rev_key rev_api|revai W60
ringcentral_secret ringcentral W22
rockset_key rockset A64
salesforce_token salesforce|force\\.com r:00[A-Za-z0-9]{13}![A-Za-z0-9_.]{96}
saucelabs_key saucelabs|sauce_access U
scalr_token scalr r:[A-Za-z0-9_\\-.]{136}
scrapingbee_key scrapingbee N80
sendbird_token sendbird H40
sidekiq_secret contribsys r:[a-f0-9]{8}:[a-f0-9]{8}
sourcegraph_key sourcegraph H40
sendinblue_key sendinblue r:xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}
serpapi_key serpapi H64
shodan_key shodan A32
shortcut_token shortcut|clubhouse U
signalwire_token signalwire r:PT[a-f0-9]{48}
simvoly_token simvoly L33
smartsheet_token smartsheet A37
snyk_key snyk U
sparkpost_key sparkpost H40
splunk_token splunk|hec_token U
sportsmonk_token sportsmonk A60
spotify_secret spotify H32
square_secret squareup|square_app r:sq0csp-[A-Za-z0-9_\\-]{43}
squarespace_key squarespace U
statuspage_key statuspage U
storyblok_token storyblok A22
strava_secret strava H40
stripo_secret stripo r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
sumologic_key sumologic|sumo_access A64
surveymonkey_token surveymonkey r:[A-Za-z0-9_\\-.]{40,100}
taxjar_key taxjar L32
teamwork_key teamwork W40
telegram_token telegram r:\\d{8,10}:[A-Za-z0-9_\\-]{35}
tiingo_key tiingo H40
todoist_token todoist H40
tomtom_key tomtom A32
travisci_token travis W22
trello_key trello H32
twilio_auth_token twilio|auth_token H32
twitch_secret twitch L30
twitter_secret twitter|consumer_secret A50
twitter_access_token twitter r:\\d{15,25}-[A-Za-z0-9]{20,40}
typeform_token typeform W44
unsplash_key unsplash W43
uploadcare_secret uploadcare H20
upwave_key upwave H32
vagrant_cloud_token vagrantcloud|vagrant r:[A-Za-z0-9]{80,100}
verimail_key verimail N32
voicegain_token voicegain r:[A-Za-z0-9_\\-.]{100,400}
vultr_key vultr N36
walkscore_key walkscore L32
weatherbit_key weatherbit L32
weatherstack_key weatherstack H32
websitepulse_key websitepulse H32
webex_token webex W64
wistia_token wistia L64
woocommerce_secret woocommerce|wc_secret r:cs_[a-f0-9]{40}
workos_key workos r:sk_(?:live|test)_[A-Za-z0-9]{40,}
wrike_token wrike r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
yelp_key yelp W128
youtube_key youtube r:AIza[A-Za-z0-9_\\-]{35}
zapier_webhook zapier r:hooks\\.zapier\\.com/hooks/catch/\\d+/[A-Za-z0-9]+
zendesk_token zendesk A40
zenrows_key zenrows H40
zenscrape_key zenscrape U
zeplin_token zeplin r:eyJ[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}\\.[A-Za-z0-9_\\-]{10,}
zerobounce_key zerobounce H32
zipcodeapi_key zipcodeapi A64
zoho_token zoho r:1000\\.[a-f0-9]{32}\\.[a-f0-9]{32}
zonka_key zonka A6
"""


def _body(code: str) -> str:
    if code.startswith("r:"):
        return code[2:]
    if code == "U":
        return _UUID
    return _CODES[code[0]] + "{" + code[1:] + "}"


# Five or more words in a row, each after a single space: a sentence. A provider's name
# followed by prose before the key ("mapquest keyword is not close to the real key") is the
# subject of that sentence, not the name of the key; a key's name is one word, an assignment
# or a short label ("Using airbrake Key=").
_PROSE = re.compile(r"(?:[A-Za-z]{2,} ){4,}[A-Za-z]{2,}")


def _check(m: re.Match[str]) -> bool:
    # The shape is the provider's and its name is near: only placeholders, filler and a name
    # that prose separates from the key are out.
    value = m.group("s")
    if _PROSE.search(m.string, m.end("kw"), m.start("s")):
        return False
    return not is_placeholder(value) and entropy(value) >= min(3.0, math.log2(len(value)) - 1)


def keyed_rules() -> tuple[Rule, ...]:
    """One rule per provider: its name nearby, then a key of its documented shape."""
    rules = []
    for line in KEYED.strip().splitlines():
        kind, keywords, code = line.split(" ", 2)
        names = keywords.split("|")
        alternation = "|".join(names)
        body = _body(code)
        regex = (
            r"(?P<kw>(?i:" + alternation + r"))[\s\S]{0,80}?(?<![A-Za-z0-9_\-+/.])"
            r"(?P<s>" + body + r")(?![A-Za-z0-9_\-])"
        )
        anchors = tuple(re.sub(r"\\(.)", r"\1", n).lower() for n in names)
        rules.append(
            Rule(
                kind,
                regex,
                anchors,
                PROVIDER,
                _check,
                max_len=2200,
                hs=r"(?i)(?:" + alternation + r")",
                lead=r"(?i)(?:" + alternation + r")",
                lead_back=48,
                back=max(map(len, anchors)),
            )
        )
    return tuple(rules)
