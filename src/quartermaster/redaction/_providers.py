"""Provider formats that identify themselves: a documented prefix or shape, no context needed.

Each entry is ``(kind, regex)`` or ``(kind, regex, anchors)``. The regex is the whole token;
word boundaries are added around it. Anchors default to the token's literal prefix.
"""

from __future__ import annotations

import re

from ._rule import PROVIDER, Rule

_B = r"(?<![A-Za-z0-9_\-+/])"
_E = r"(?![A-Za-z0-9_\-])"

A62 = "[A-Za-z0-9]"
W = r"[A-Za-z0-9_\-]"
HEX = "[a-f0-9]"
HEXI = "[a-fA-F0-9]"
UUID = r"[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}"

# fmt: off
Entry = tuple[str, str] | tuple[str, str, tuple[str, ...]]
TOKENS: tuple[Entry, ...] = (
    # Code hosts and CI
    ("github_pat", r"ghp_[A-Za-z0-9]{36}"),
    ("github_oauth", r"gho_[A-Za-z0-9]{36}"),
    ("github_user_to_server", r"ghu_[A-Za-z0-9]{36}"),
    ("github_server_to_server", r"ghs_[A-Za-z0-9]{36}"),
    ("github_refresh_token", r"ghr_[A-Za-z0-9]{36,76}"),
    ("github_fine_grained_pat", r"github_pat_[A-Za-z0-9_]{82}"),
    ("gitlab_pat", r"glpat-[A-Za-z0-9_\-.]{20,80}"),
    ("gitlab_pipeline_trigger", r"glptt-[a-f0-9]{40}"),
    ("gitlab_runner_token", r"glrt-[A-Za-z0-9_\-.]{20,80}"),
    ("gitlab_runner_registration", r"GR1348941[A-Za-z0-9_\-]{20}"),
    ("gitlab_deploy_token", r"gldt-[A-Za-z0-9_\-]{20,64}"),
    ("gitlab_feed_token", r"glft-[A-Za-z0-9_\-]{20,64}"),
    ("gitlab_oauth_secret", r"gloas-[a-f0-9]{64}"),
    ("gitlab_scim_token", r"glsoat-[A-Za-z0-9_\-]{20,64}"),
    ("gitlab_cicd_job_token", r"glcbt-[A-Za-z0-9_\-]{1,5}_[A-Za-z0-9_\-]{20,64}"),
    ("gitlab_incoming_mail", r"glimt-[A-Za-z0-9_\-]{25,64}"),
    ("gitlab_agent_token", r"glagent-[A-Za-z0-9_\-]{50,80}"),
    ("gitlab_feature_flag", r"glffct-[A-Za-z0-9_\-]{20,64}"),
    ("bitbucket_app_password", r"ATBB[A-Za-z0-9_=.\-]{32,}"),
    ("atlassian_api_token", r"ATATT3[A-Za-z0-9_\-=]{150,200}"),
    ("atlassian_connect_token", r"ATCTT3[A-Za-z0-9_\-=]{150,200}"),
    ("buildkite_token", r"bkua_[a-f0-9]{40}"),
    ("circleci_pat", r"CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
    ("circleci_project_token", r"CCIPRJ_[A-Za-z0-9]{22}_[a-f0-9]{40}"),
    ("gitea_token", r"gta_[a-f0-9]{40}"),
    ("sourcegraph_token", r"sgp_(?:[a-fA-F0-9]{16}|local)_[a-fA-F0-9]{40}"),
    ("sourcegraph_legacy_token", r"sgp_[a-fA-F0-9]{40}"),
    ("sourcegraph_cody_token", r"slk_[a-f0-9]{64}"),
    ("jetbrains_space_token", r"perm:[A-Za-z0-9+/=]{10,}\.[A-Za-z0-9+/=]{10,}\.[A-Za-z0-9+/=]{20,}"),  # noqa: E501
    ("sonarqube_token", r"sq[pua]_[A-Za-z0-9]{40}", ("sqp_", "squ_", "sqa_")),
    ("snyk_token", r"snyk_(?:uat|sat)\.[a-z0-9]{8}\.[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}"),
    ("harness_pat", r"pat\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9_\-]{20}"),
    ("harness_sat", r"sat\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9_\-]{20}"),
    ("octopus_deploy_key", r"API-[A-Z0-9]{26}"),
    ("travis_ci_token", r"travis_[A-Za-z0-9]{22}"),
    ("codecov_token", r"codecov_[A-Za-z0-9]{20,}", ("codecov_",)),
    ("drone_ci_token", r"drone_[A-Za-z0-9]{32}"),
    ("teamcity_token", r"eyJ0eXAiOiAiVENWMiJ9\.[A-Za-z0-9_\-]{36}\.[A-Za-z0-9_\-]{48}", ("eyj0exaioiaivencmij9",)),  # noqa: E501
    ("jfrog_api_key", r"AKCp[A-Za-z0-9]{69}"),
    ("jfrog_reference_token", r"cmVmd[A-Za-z0-9]{59}"),
    # Package registries
    ("npm_token", r"npm_[A-Za-z0-9]{36}"),
    ("pypi_token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}"),
    ("testpypi_token", r"pypi-AgENdGVzdC5weXBpLm9yZw[A-Za-z0-9_\-]{50,}"),
    ("rubygems_token", r"rubygems_[a-f0-9]{48}"),
    ("nuget_api_key", r"oy2[a-z0-9]{43}"),
    ("crates_io_token", r"cio[A-Za-z0-9]{32}"),
    ("docker_hub_pat", r"dckr_pat_[A-Za-z0-9_\-]{27}"),
    ("docker_hub_oat", r"dckr_oat_[A-Za-z0-9_\-]{32}"),
    ("packagist_token", r"packagist_[ou][ru]t_[a-f0-9]{68}"),
    ("clojars_token", r"CLOJARS_[a-z0-9]{60}"),
    ("pulumi_token", r"pul-[a-f0-9]{40}"),
    ("anaconda_token", r"[a-z]{2}-[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}_anaconda", ("_anaconda",)),  # noqa: E501
    ("hex_pm_key", r"hexpm_[A-Za-z0-9]{40,}"),
    ("deno_deploy_token", r"dd[pw]_[A-Za-z0-9]{36}", ("ddp_", "ddw_")),
    ("bun_token", r"bun_[A-Za-z0-9]{36}"),
    # Cloud
    ("aws_access_key_id", r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}", ("akia", "asia", "abia", "acca", "a3t")),  # noqa: E501
    ("aws_bedrock_key", r"ABSK[A-Za-z0-9+/]{109,269}={0,2}"),
    ("gcp_api_key", r"AIza[A-Za-z0-9_\-]{35}"),
    ("gcp_oauth_secret", r"GOCSPX-[A-Za-z0-9_\-]{28}"),
    ("gcp_oauth_access_token", r"ya29\.[A-Za-z0-9_\-]{30,}"),
    ("gcp_refresh_token", r"1//0[A-Za-z0-9_\-]{40,}", ("1//0",)),
    ("azure_ad_client_secret", r"[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}", ("q~",)),
    ("azure_storage_key", r"(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{40,88}={0,2}", ("accountkey=", "sharedaccesskey=")),  # noqa: E501
    ("azure_sas_signature", r"[?&]sig=[A-Za-z0-9%+/]{30,100}(?:%3D|=){0,2}", ("sig=",)),
    ("alibaba_access_key_id", r"LTAI[A-Za-z0-9]{12,20}"),
    ("tencent_secret_id", r"AKID[A-Za-z0-9]{32}"),
    ("digitalocean_pat", r"dop_v1_[a-f0-9]{64}"),
    ("digitalocean_oauth", r"doo_v1_[a-f0-9]{64}"),
    ("digitalocean_refresh", r"dor_v1_[a-f0-9]{64}"),
    ("yandex_api_key", r"AQVN[A-Za-z0-9_\-]{35,38}"),
    ("yandex_aws_key", r"YC[A-Za-z0-9_\-]{38}", ("yc",)),
    ("yandex_iam_token", r"t1\.[A-Z0-9a-z_\-]+={0,2}\.[A-Z0-9a-z_\-]{86}={0,2}", ("t1.",)),
    ("hashicorp_vault_token", r"hv[sbr]\.[A-Za-z0-9_\-]{24,400}", ("hvs.", "hvb.", "hvr.")),
    ("hashicorp_tf_token", r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70}", (".atlasv1.",)),
    ("fly_io_token", r"(?:fo1_[A-Za-z0-9_\-]{43}|fm[12][ar]?_[A-Za-z0-9+/=]{100,})", ("fo1_", "fm1", "fm2")),  # noqa: E501
    ("heroku_api_key_v2", r"HRKU-AA[A-Za-z0-9_\-]{58}"),
    ("vercel_token", r"vc[pikar]_[A-Za-z0-9]{24,60}", ("vcp_", "vci_", "vck_", "vca_", "vcr_")),
    ("netlify_token", r"nfp_[A-Za-z0-9]{36}"),
    ("render_token", r"rnd_[A-Za-z0-9]{32}"),
    ("cloudflare_origin_ca", r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}", ("v1.0-",)),
    ("cloudflare_api_token_v2", r"cf(?:ut|at|k)_[A-Za-z0-9]{40,}", ("cfut_", "cfat_", "cfk_")),
    ("akamai_client_token", r"akab-[a-z0-9]{16}-[a-z0-9]{16}"),
    ("doppler_token", r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_\-]{40,44}", ("dp.pt.", "dp.st.", "dp.sa.", "dp.ct.", "dp.scim.", "dp.audit.")),  # noqa: E501
    ("dynatrace_token", r"dt0[a-z]\d{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64}", ("dt0",)),
    ("infracost_key", r"ico-[A-Za-z0-9]{32}"),
    ("openshift_token", r"sha256~[A-Za-z0-9_\-]{43}"),
    ("backblaze_app_key", r"K00[0-9][A-Za-z0-9+/]{27}"),
    ("age_secret_key", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"),
    ("onepassword_secret_key", r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}"),  # noqa: E501
    ("onepassword_service_token", r"ops_eyJ[A-Za-z0-9+/]{250,}={0,3}"),
    ("prefect_token", r"pnu_[A-Za-z0-9]{36}"),
    ("planetscale_token", r"pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_\-=.]{32,64}", ("pscale_",)),
    ("supabase_token", r"sbp_[a-f0-9]{40}"),
    ("supabase_secret_key", r"sb_secret_[A-Za-z0-9_\-]{20,}"),
    ("fauna_secret", r"fn[A-E][A-Za-z0-9_\-]{38}", ("fn",)),
    ("xata_api_key", r"xau_[A-Za-z0-9]{32,}"),
    ("neon_api_key", r"napi_[a-z0-9]{64}"),
    ("upstash_token", r"AX[A-Za-z0-9]{2}ASQgO[A-Za-z0-9=]{60,}", ("asqgo",)),
    ("mongodb_atlas_key", r"mdb_sa_sk_[A-Za-z0-9_\-]{40,}"),
    ("pinecone_api_key", r"pcsk_[A-Za-z0-9]{5,8}_[A-Za-z0-9]{50,70}"),
    ("railway_token", r"railway_[A-Za-z0-9]{32,}"),
    ("linode_token", r"linode_[a-f0-9]{64}"),
    ("grafana_cloud_token", r"glc_[A-Za-z0-9+/]{32,400}={0,2}"),
    ("grafana_service_account", r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    ("grafana_api_key", r"eyJrIjoi[A-Za-z0-9]{70,400}={0,2}"),
    ("new_relic_user_key", r"NRAK-[A-Z0-9]{27}"),
    ("new_relic_insert_key", r"NRII-[A-Za-z0-9_\-]{32}"),
    ("new_relic_browser_key", r"NRJS-[a-f0-9]{19}"),
    ("new_relic_admin_key", r"NRAA-[a-f0-9]{27}"),
    ("sentry_org_token", r"sntrys_eyJpYXQiO[A-Za-z0-9+/=]{50,}_[A-Za-z0-9+/]{43}"),
    ("sentry_user_token", r"sntryu_[a-f0-9]{64}"),
    ("datadog_pat", r"ddapp_[A-Za-z0-9]{40,}"),
    ("honeycomb_key", r"hc[a-z]{2}c_[a-z0-9]{58}|hc[a-z]{2}k_[a-z0-9]{22,58}", ("hcaik_", "hcxik_", "hcaic_", "hcxlk_", "hcamk_")),  # noqa: E501
    ("posthog_personal_key", r"phx_[A-Za-z0-9]{43}"),
    ("launchdarkly_key", r"(?:api|sdk|mob)-" + UUID, ("api-", "sdk-", "mob-")),
    ("statsig_secret", r"secret-[A-Za-z0-9]{43}"),
    ("langsmith_key", r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    ("langfuse_secret_key", r"sk-lf-" + UUID),
    ("axiom_token", r"xaat-" + UUID),
    ("axiom_pat", r"xapt-" + UUID),
    ("logz_token", r"logz_[A-Za-z0-9]{32}"),
    # Payments and commerce
    ("stripe_secret_key", r"[sr]k_(?:live|test|prod)_[A-Za-z0-9]{20,247}", ("sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_")),  # noqa: E501
    ("stripe_webhook_secret", r"whsec_[A-Za-z0-9+/=]{32,}"),
    ("square_access_token", r"(?:EAAA|sq0atp-)[A-Za-z0-9_\-]{22,60}", ("eaaa", "sq0atp-")),
    ("square_oauth_secret", r"sq0csp-[A-Za-z0-9_\-]{43}"),
    ("shopify_access_token", r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}", ("shpat_", "shpca_", "shppa_", "shpss_")),  # noqa: E501
    ("shopify_app_secret", r"shpsa_[a-fA-F0-9]{32}"),
    ("braintree_token", r"access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}", ("access_token$",)),  # noqa: E501
    ("flutterwave_secret", r"FLWSECK(?:_TEST)?-[a-hA-H0-9]{32}-X", ("flwseck",)),
    ("flutterwave_encryption", r"FLWSECK_TEST-?[a-hA-H0-9]{12}"),
    ("flutterwave_public_key", r"FLWPUBK(?:_TEST)?-[a-hA-H0-9]{32}-X", ("flwpubk",)),
    ("intra42_secret", r"s-s4t2(?:ud|af)-[a-f0-9]{64}", ("s-s4t2",)),
    ("jwt_base64", r"ZXlK[A-Za-z0-9+/]{20,}={0,2}"),
    ("razorpay_key", r"rzp_(?:live|test)_[A-Za-z0-9]{14}", ("rzp_live_", "rzp_test_")),
    ("paddle_api_key", r"pdl_(?:live|sdbx)_apikey_[a-z0-9]{26}_[A-Za-z0-9]{22}_[A-Za-z0-9]{3}", ("pdl_",)),  # noqa: E501
    ("gocardless_token", r"live_[A-Za-z0-9_\-=]{40}"),
    ("plaid_access_token", r"access-(?:sandbox|development|production)-" + UUID, ("access-sandbox-", "access-development-", "access-production-")),  # noqa: E501
    ("adyen_api_key", r"AQE[a-z]{2}[A-Za-z0-9+/=_\-]{80,200}"),
    ("checkout_secret_key", r"sk_(?:sbox_)?[a-z2-7]{26}[a-z2-7*#$=]", ("sk_",)),
    ("coinbase_key", r"organizations/" + UUID + r"/apiKeys/" + UUID, ("organizations/",)),
    ("lemonsqueezy_key", r"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9\.eyJhdWQiOiI5NGQ1OWNlZi[A-Za-z0-9_\-.]{100,}", ("eyj0exaioijkv1qilcjhbgcioijsuzi1nij9",)),  # noqa: E501
    ("klaviyo_private_key", r"pk_[a-f0-9]{34}"),
    ("clickup_token", r"pk_\d{6,10}_[A-Z0-9]{32}"),
    ("mercury_token", r"secret-token:mercury_(?:production|sandbox)_[a-z]{3}_[A-Za-z0-9]{40,}", ("secret-token:mercury",)),  # noqa: E501
    ("shippo_token", r"shippo_(?:live|test)_[a-f0-9]{40}", ("shippo_",)),
    ("easypost_key", r"EZ[AT]K[A-Za-z0-9]{54}", ("ezak", "eztk")),
    ("duffel_token", r"duffel_(?:test|live)_[A-Za-z0-9_\-=]{43}", ("duffel_",)),
    ("frameio_token", r"fio-u-[A-Za-z0-9_\-=]{64}"),
    ("lob_key", r"(?:live|test)_(?:pub_)?[a-f0-9]{35}", ("live_", "test_")),
    ("modern_treasury_key", r"(?:live|test)-[A-Za-z0-9]{64}", ("live-", "test-")),
    # Messaging and chat
    ("slack_token", r"xox[abposre]-(?:\d+-)*[A-Za-z0-9-]{10,250}", ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-")),  # noqa: E501
    ("slack_config_token", r"xoxe\.xox[bp]-\d-[A-Z0-9]{160,170}", ("xoxe.",)),
    ("slack_app_token", r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+"),
    ("slack_webhook", r"(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{40,120}", ("hooks.slack.com",)),  # noqa: E501
    ("discord_webhook", r"(?:https?://)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]{60,70}", ("/api/webhooks/",)),  # noqa: E501
    ("telegram_bot_token", r"\d{8,10}:AA[A-Za-z0-9_\-]{32,33}", (":aa",)),
    ("teams_webhook", r"(?:https?://)?[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9\-]+@[a-z0-9\-]+/IncomingWebhook/[a-z0-9]{32}/[a-z0-9\-]+", ("webhook.office.com",)),  # noqa: E501
    ("twilio_api_key", r"SK[a-f0-9]{32}", ("sk",)),
    ("sendgrid_api_key", r"SG\.[A-Za-z0-9=_\-.]{66}"),
    ("mailgun_api_key", r"key-[a-f0-9]{32}", ("key-",)),
    ("mailchimp_api_key", r"[a-f0-9]{32}-us\d{1,2}", ("-us",)),
    ("mandrill_api_key", r"md-[A-Za-z0-9_\-]{22}"),
    ("brevo_api_key", r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("brevo_smtp_key", r"xsmtpsib-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    ("mailersend_token", r"mlsn\.[a-f0-9]{64}"),
    ("resend_api_key", r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
    ("telnyx_api_key", r"KEY[0-9A-Za-z_\-]{55}"),
    ("facebook_access_token", r"EAA[MC][A-Za-z0-9]{100,}", ("eaam", "eaac")),
    ("instagram_token", r"IGQV[A-Za-z0-9_\-]{100,}"),
    ("twitter_bearer_token", r"A{22}[A-Za-z0-9%]{80,120}", ("aaaaaaaaaaaaaaaaaaaaaa",)),
    ("pinterest_token", r"pina_[A-Z0-9]{32,}"),
    # AI APIs
    ("openai_api_key", r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,200}T3BlbkFJ[A-Za-z0-9_\-]{20,200}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}", ("t3blbkfj",)),  # noqa: E501
    ("openai_project_key", r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,200}", ("sk-proj-", "sk-svcacct-", "sk-admin-")),  # noqa: E501
    ("anthropic_api_key", r"sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_\-]{80,100}AA", ("sk-ant-",)),
    ("openrouter_key", r"sk-or-v1-[a-f0-9]{64}"),
    ("groq_api_key", r"gsk_[A-Za-z0-9]{52}"),
    ("perplexity_key", r"pplx-[A-Za-z0-9]{48}"),
    ("xai_api_key", r"xai-[A-Za-z0-9]{80}"),
    ("huggingface_token", r"hf_[A-Za-z]{34}"),
    ("huggingface_org_token", r"api_org_[A-Za-z]{34}"),
    ("replicate_token", r"r8_[A-Za-z0-9]{37}"),
    ("nvidia_api_key", r"nvapi-[A-Za-z0-9_\-]{64}"),
    ("cerebras_key", r"csk-[a-z0-9]{48}"),
    ("tavily_key", r"tvly-(?:dev-)?[A-Za-z0-9]{32}", ("tvly-",)),
    ("firecrawl_key", r"fc-[a-f0-9]{32}"),
    ("jina_key", r"jina_[a-f0-9]{32}[A-Za-z0-9_\-]{28}"),
    ("e2b_key", r"e2b_[a-f0-9]{40}"),
    ("fireworks_key", r"fw_[A-Za-z0-9]{24}"),
    ("helicone_key", r"sk-helicone-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}-[a-z0-9]{7}"),
    ("browserbase_key", r"bb_live_[A-Za-z0-9_\-]{27}"),
    ("elevenlabs_key", r"sk_[a-f0-9]{48}"),
    ("deepseek_key", r"sk-[a-f0-9]{32}", ("sk-",)),
    ("voyage_key", r"pa-[A-Za-z0-9_\-]{43}"),
    ("runpod_key", r"rpa_[A-Z0-9]{48}"),
    ("modal_token", r"a[ks]-[A-Za-z0-9]{22}", ("ak-", "as-")),
    ("together_key", r"tgp_v1_[A-Za-z0-9_\-]{43}"),
    ("scale_key", r"live_[a-f0-9]{32}"),
    # Productivity, data and SaaS
    ("linear_api_key", r"lin_api_[A-Za-z0-9]{40}"),
    ("linear_oauth", r"lin_oauth_[a-f0-9]{64}"),
    ("notion_token", r"(?:secret_[A-Za-z0-9]{43}|ntn_\d{11}[A-Za-z0-9]{35})", ("secret_", "ntn_")),
    ("airtable_pat", r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    ("figma_pat", r"figd_[A-Za-z0-9_\-]{40}"),
    ("postman_api_key", r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    ("contentful_pat", r"CFPAT-[A-Za-z0-9_\-]{43}"),
    ("typeform_pat", r"tfp_[A-Za-z0-9_\-.=]{59}"),
    ("readme_key", r"rdme_[a-z0-9]{70}"),
    ("hubspot_pat", r"pat-(?:na|eu|ap)\d-" + UUID, ("pat-na", "pat-eu", "pat-ap")),
    ("dropbox_token", r"sl\.[A-Za-z0-9_\-=]{130,160}", ("sl.",)),
    ("dropbox_long_lived", r"[a-z0-9]{11}AAAAAAAAAA[A-Za-z0-9_\-=]{43}", ("aaaaaaaaaa",)),
    ("asana_pat", r"[12]/[0-9]{10,16}/[0-9]{10,16}:[a-f0-9]{32}", tuple(f"{a}/{d}" for a in "12" for d in "0123456789")),  # noqa: E501
    ("trello_token", r"ATTA[A-Fa-f0-9]{60,70}"),
    ("intercom_token", r"dG9rOj[A-Za-z0-9+/]{40,60}={0,2}"),
    ("adobe_client_secret", r"p8e-[A-Za-z0-9]{32}"),
    ("defined_networking_key", r"dnkey-[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52}"),
    ("maxmind_license_key", r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk", ("_mmk",)),
    ("settlemint_token", r"sm_(?:pat|aat|sat)_[A-Za-z0-9]{16}", ("sm_pat_", "sm_aat_", "sm_sat_")),
    ("scalingo_token", r"tk-us-[A-Za-z0-9_\-]{48}"),
    ("authress_key", r"(?:sc|ext|scauth|authress)_[A-Za-z0-9]{5,30}\.[a-z0-9]{4,6}\.acc[_\-][a-z0-9\-]{10,32}\.[A-Za-z0-9+/_=\-]{30,120}", (".acc_", ".acc-")),  # noqa: E501
    ("cloudinary_url", r"cloudinary://\d+:[A-Za-z0-9_\-]{20,40}@", ("cloudinary://",)),
    ("mapbox_secret_token", r"sk\.eyJ[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{20,}", ("sk.eyj",)),
    ("riot_api_key", r"RGAPI-" + UUID),

)
# fmt: on


def _anchors(regex: str) -> tuple[str, ...]:
    """The literal prefix of a token regex, lower-cased, as its only anchor."""
    prefix = _literal(regex).lower()
    return (prefix,) if len(prefix) >= 3 else ()


def literal_prefixes(min_len: int = 4) -> frozenset[str]:
    """The literal prefixes (as written) of the self-identifying formats: a value starting
    with one names its own format, and is judged by that format's rule alone."""
    return frozenset(p for e in TOKENS if len(p := _literal(e[1])) >= min_len)


def _literal(regex: str) -> str:
    """The literal text a token regex starts with."""
    out = []
    i = 0
    while i < len(regex):
        c = regex[i]
        if c == "\\" and i + 1 < len(regex) and regex[i + 1] in ".-$/":
            if regex[i + 2 : i + 3] in ("?", "*", "{"):
                break
            out.append(regex[i + 1])
            i += 2
            continue
        if c in "[](){}.*+?|^$\\":
            break
        if regex[i + 1 : i + 2] in ("?", "*", "{"):
            break  # an optional or repeated character is not part of every token
        out.append(c)
        i += 1
    return "".join(out)


# Prefixes that are words (``key-``, ``live_``, ``secret-``): many vendors' tokens start
# with them, so a value that does names no format by them alone.
_WORD_PREFIXES = frozenset(["key", "live", "test", "secret", "api", "sdk", "mob", "access", "pat"])
# Any character of any key alphabet: a format with this in place of each of its character
# classes keeps only its structure (literal parts, separators, lengths).
_ANY_KEY_CHAR = r"[A-Za-z0-9_\-.+/=~%]"


def _shapes() -> dict[str, re.Pattern[str]]:
    """Literal prefix → the structure (lengths and literals, any key alphabet) of every
    format that starts with it."""
    shapes: dict[str, list[str]] = {}
    for entry in TOKENS:
        prefix = _literal(entry[1])
        if len(prefix) < 4 or re.sub(r"[^a-z]", "", prefix.lower()) in _WORD_PREFIXES:
            continue
        shapes.setdefault(prefix, []).append(re.sub(r"\[[^\]]*\]", _ANY_KEY_CHAR, entry[1]))
    return {p: re.compile("|".join(f"(?:{r})" for r in rs)) for p, rs in shapes.items()}


_SHAPES = _shapes()
_SHAPE_LENGTHS = sorted({len(p) for p in _SHAPES})


def names_distinctive_format(value: str) -> bool:
    """Whether ``value`` starts with a self-identifying format's prefix that is not a word
    (``ghp_``, ``NRAK-``; not ``live_`` or ``key-``)."""
    return any(value[:n] in _SHAPES for n in _SHAPE_LENGTHS)


def misshapen(value: str) -> bool:
    """Whether ``value`` starts with a self-identifying format's distinctive prefix (``NRAK-``,
    ``HRKU-AA``) but has not that format's structure even in any key alphabet: the wrong
    length, a missing separator. Detectors disagree on a format's alphabet (upper or lower
    case), never on its length; such a value is a truncated, padded or invented token."""
    for n in _SHAPE_LENGTHS:
        shape = _SHAPES.get(value[:n])
        if shape is not None:
            return shape.fullmatch(value) is None
    return False


_FILLER = re.compile(r"(?i)x{6,}|0{10,}|\*{3,}|#{4,}|example|your[_\-]|<[^>]*>|abcdefgh")


def _not_placeholder(m: re.Match[str]) -> bool:
    # Formats are exact, so only documentation filler needs excluding (not repeated letters:
    # some formats have them, such as the twenty-two A's of a Twitter bearer token).
    return _FILLER.search(m.group("s")) is None


# Rules whose explicit anchors are where their token starts (as a derived anchor always is),
# so the fallback engine tries only the few positions before an anchor's end.
_STARTS_AT_ANCHOR = frozenset(
    ["sonarqube_token", "aws_access_key_id", "yandex_aws_key", "fauna_secret", "stripe_secret_key",
     "shopify_access_token", "twilio_api_key", "facebook_access_token", "asana_pat"]
)  # fmt: skip


def provider_rules() -> tuple[Rule, ...]:
    """The self-identifying token rules."""
    rules = []
    for entry in TOKENS:
        kind, regex = entry[0], entry[1]
        anchors = entry[2] if len(entry) == 3 else _anchors(regex)
        if not anchors:
            raise ValueError(f"provider rule {kind} has no anchor")
        # A derived anchor is the token's literal prefix: a match starts right before its end.
        starts = len(entry) == 2 or kind in _STARTS_AT_ANCHOR
        back = max(map(len, anchors)) if starts else None
        rules.append(
            Rule(
                kind,
                _B + "(?P<s>" + regex + ")" + _E,
                anchors,
                PROVIDER,
                _not_placeholder,
                # A format with an open-ended length ("{250,}": 1Password's ops_eyJ…) may run
                # past 400 characters; bounding its match there would cut it short.
                max_len=2000 if re.search(r"\{\d+,\}|[+*]", regex) else 400,
                back=back,
                at_anchor=starts,
            )
        )
    return tuple(rules)
