/* leanix-functions on Azure: one Flex Consumption Function App (Linux, Python 3.11) with a
user-assigned managed identity, identity-only storage (deployment container, queues with their
poison queues, the state table, the data container), Key Vault with RBAC holding the secrets,
Application Insights, and an app setting for every setting the code reads
(infra/settings_map.json says which, tests/infra checks it). */

targetScope = 'resourceGroup'

//********************************************
// Parameters
//********************************************

@description('Name of the azd environment; used in resource names and tags.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every resource. Must offer the Flex Consumption plan.')
@minLength(1)
param location string = resourceGroup().location

@description('LeanIX workspace host, e.g. acme.leanix.net (LEANIX_HOST).')
@minLength(1)
param leanixHost string

@description('Technical user API token, written to Key Vault. Pass it on the FIRST deployment only: later deployments must pass an empty value, or they overwrite the rotated token with this one.')
@secure()
param leanixApiToken string = ''

@description('Secret LeanIX sends in the Authorization header of every webhook delivery (WEBHOOK_SECRET). At least 32 characters.')
@secure()
@minLength(32)
param webhookSecret string

@description('Secret metric pushers send as Bearer token or X-Metrics-Secret (METRICS_SECRET). At least 32 characters.')
@secure()
@minLength(32)
param metricsSecret string

@description('Slack incoming webhook URL for notifications; empty disables Slack (SLACK_WEBHOOK_URL).')
@secure()
param slackWebhookUrl string = ''

@description('Microsoft Teams incoming webhook URL for notifications; empty disables Teams (TEAMS_WEBHOOK_URL).')
@secure()
param teamsWebhookUrl string = ''

@description('PUSH (LeanIX calls the webhook URL) or PULL (a timer polls LeanIX; no public ingress needed).')
@allowed(['PUSH', 'PULL'])
param webhookDeliveryMode string = 'PUSH'

@description('NCRONTAB (6 fields) of the PULL-mode poll (WEBHOOK_PULL_SCHEDULE).')
param webhookPullSchedule string = '0 */1 * * * *'

@description('NCRONTAB of the nightly TIME-tag reconcile (TIME_RECONCILE_SCHEDULE).')
param timeReconcileSchedule string = '0 30 2 * * *'

@description('NCRONTAB of the metrics pull (METRICS_PULL_SCHEDULE).')
param metricsPullSchedule string = '0 30 6 * * *'

@description('Comma-separated metric pull sources (METRICS_PULL_SOURCES); empty on Azure unless AWS credentials are provided.')
param metricsPullSources string = ''

@description('NCRONTAB of the nightly LDIF sync (LDIF_SYNC_SCHEDULE).')
param ldifSyncSchedule string = '0 30 2 * * *'

@description('LDIF source: file (an export in the data container) or aws_inventory (LDIF_SOURCE).')
@allowed(['file', 'aws_inventory'])
param ldifSource string = 'file'

@description('NCRONTAB of the daily check whether the token is due for rotation (TOKEN_ROTATION_SCHEDULE).')
param tokenRotationSchedule string = '0 0 3 * * *'

@description('Empty, one technical user id, or two ids for two-user rotation (TOKEN_ROTATION_USER_IDS).')
param tokenRotationUserIds string = ''

@description('Log level of the functions (LOG_LEVEL).')
@allowed(['DEBUG', 'INFO', 'WARNING', 'ERROR'])
param logLevel string = 'INFO'

@description('Maximum number of instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance in MB.')
@allowed([2048, 4096])
param instanceMemoryMB int = 2048

//********************************************
// Variables
//********************************************

var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var appName = 'func-leanix-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

// Names the code reads through settings (defaults of shared/settings.py).
var blobContainerName = 'leanix-functions'
var stateTableName = 'leanixstate'
var webhookQueueName = 'leanix-webhook-events'
var metricsDeadLetterQueueName = 'metrics-dead-letter'
// The Functions host moves a message to `<queue>-poison` after maxDequeueCount (host.json: 5).
var queueNames = [
  webhookQueueName
  '${webhookQueueName}-poison'
  metricsDeadLetterQueueName
  '${metricsDeadLetterQueueName}-poison'
]
var queueMaxAttempts = '5'
// Claim-checked webhook bodies (CLAIM_CHECK_PREFIX in functions/webhook_handler/queueing.py) expire
// after this many days (the same in template.yaml; see infra/README.md, 'Claim-check expiry').
var claimCheckPrefix = 'webhook/events/'
var claimCheckRetentionDays = 30

// Key Vault secret names; the first two are also LEANIX_TOKEN_SECRET_NAME / WEBHOOK_SECRET_NAME.
var tokenSecretName = 'leanix-api-token'
var webhookSecretName = 'leanix-webhook-secret'
var metricsSecretName = 'metrics-secret'
var slackSecretName = 'slack-webhook-url'
var teamsSecretName = 'teams-webhook-url'

// Built-in role definition ids.
var storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
var storageQueueDataContributorRoleId = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
var storageTableDataContributorRoleId = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
var monitoringMetricsPublisherRoleId = '3913510d-42f4-4e42-8a64-420c390055eb'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

//********************************************
// Dependencies: identity, monitoring, storage, Key Vault
//********************************************

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-leanix-${resourceToken}'
  location: location
  tags: tags
}

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-leanix-${resourceToken}'
  location: location
  tags: tags
  properties: {
    retentionInDays: 30
    sku: {
      name: 'PerGB2018'
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-leanix-${resourceToken}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'stleanix${resourceToken}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

// Child resources are declared top-level (with `parent`) so every parser sees each of them.
resource blobServices 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobServices
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource dataContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobServices
  name: blobContainerName
  properties: {
    publicAccess: 'None'
  }
}

// Nothing in the code deletes claim-checked bodies (content-addressed keys; a duplicate may be in flight).
resource blobLifecycle 'Microsoft.Storage/storageAccounts/managementPolicies@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    policy: {
      rules: [
        {
          name: 'expire-webhook-claim-checks'
          enabled: true
          type: 'Lifecycle'
          definition: {
            filters: {
              blobTypes: [
                'blockBlob'
              ]
              prefixMatch: [
                '${blobContainerName}/${claimCheckPrefix}'
              ]
            }
            actions: {
              baseBlob: {
                delete: {
                  daysAfterModificationGreaterThan: claimCheckRetentionDays
                }
              }
            }
          }
        }
      ]
    }
  }
}

resource queueServices 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for queueName in queueNames: {
  parent: queueServices
  name: queueName
}]

resource tableServices 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource stateTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableServices
  name: stateTableName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv-leanix-${take(resourceToken, 14)}'
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

// Written only when a token is passed, so a later deployment never replaces a rotated token.
resource tokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(leanixApiToken)) {
  parent: vault
  name: tokenSecretName
  properties: {
    value: leanixApiToken
    contentType: 'LeanIX API token'
  }
}

// The token secret as it exists after the first deployment, to scope the rotation's write role.
resource existingTokenSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = {
  parent: vault
  name: tokenSecretName
}

resource webhookSecretResource 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: webhookSecretName
  properties: {
    value: webhookSecret
    contentType: 'LeanIX webhook Authorization header'
  }
}

resource metricsSecretResource 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: metricsSecretName
  properties: {
    value: metricsSecret
    contentType: 'metrics push secret'
  }
}

resource slackSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(slackWebhookUrl)) {
  parent: vault
  name: slackSecretName
  properties: {
    value: slackWebhookUrl
    contentType: 'Slack incoming webhook URL'
  }
}

resource teamsSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (!empty(teamsWebhookUrl)) {
  parent: vault
  name: teamsSecretName
  properties: {
    value: teamsWebhookUrl
    contentType: 'Teams incoming webhook URL'
  }
}

//********************************************
// Role assignments of the app's identity (least privilege)
//********************************************

resource storageBlobDataOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageBlobDataOwnerRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwnerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageQueueDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageQueueDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource storageTableDataContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identity.id, storageTableDataContributorRoleId)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageTableDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource monitoringMetricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identity.id, monitoringMetricsPublisherRoleId)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisherRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Read every secret of the vault (Key Vault references and the SecretStore port).
resource keyVaultSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Write only the token secret: token rotation stores the new token there, nothing else writes.
resource keyVaultSecretsOfficerOnToken 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, tokenSecretName, identity.id, keyVaultSecretsOfficerRoleId)
  scope: existingTokenSecret
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
  dependsOn: [
    tokenSecret
  ]
}

//********************************************
// Function app and Flex Consumption plan
//********************************************

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-leanix-${resourceToken}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      healthCheckPath: '/api/health'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }
}

// FTP and SCM basic-auth publishing off: deployments authenticate with Entra ID.
resource ftpPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPublishing 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

//********************************************
// App settings
//********************************************

// What the Functions host itself needs: storage and telemetry through the identity.
var hostSettings = {
  AzureWebJobsStorage__accountName: storage.name
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.properties.clientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
}

// Every plain setting of shared/settings.py that applies on Azure (infra/settings_map.json).
var codeSettings = {
  PLATFORM: 'azure'
  LOG_LEVEL: logLevel
  LEANIX_HOST: leanixHost
  LEANIX_TOKEN_SECRET_NAME: tokenSecretName
  LEANIX_REQUESTS_PER_MINUTE: '1500'
  LEANIX_TIMEOUT_SECONDS: '30'
  LEANIX_MAX_RETRIES: '5'
  LEANIX_RETRY_BUDGET_SECONDS: '120'
  STORAGE_ACCOUNT_URL: storage.properties.primaryEndpoints.blob
  QUEUE_ACCOUNT_URL: storage.properties.primaryEndpoints.queue
  TABLE_ACCOUNT_URL: storage.properties.primaryEndpoints.table
  KEY_VAULT_URL: vault.properties.vaultUri
  AZURE_CLIENT_ID: identity.properties.clientId
  BLOB_CONTAINER: blobContainerName
  STATE_TABLE: stateTableName
  QUEUE_MAX_ATTEMPTS: queueMaxAttempts
  WEBHOOK_SECRET_NAME: webhookSecretName
  WEBHOOK_QUEUE_NAME: webhookQueueName
  WEBHOOK_DEDUP_TTL_SECONDS: '2592000'
  WEBHOOK_INLINE_MAX_BYTES: '49152'
  WEBHOOK_DELIVERY_MODE: webhookDeliveryMode
  WEBHOOK_PULL_SCHEDULE: webhookPullSchedule
  WEBHOOK_PULL_TIMEOUT_SECONDS: '10'
  WEBHOOK_SUBSCRIPTION_IDENTIFIER: 'leanix-functions-webhook'
  WEBHOOK_PAYLOAD_MODE: 'DEFAULT'
  TIME_RULE_ENABLED: 'true'
  TIME_RULE_CONFIG: ''
  TIME_RECONCILE_SCHEDULE: timeReconcileSchedule
  NOTIFY_EVENT_TYPES: ''
  NOTIFY_FACT_SHEET_TYPES: ''
  NOTIFY_WORKSPACE_NAME: ''
  METRICS_API_VERSION: 'v2'
  METRICS_BUCKET: 'minute'
  METRICS_CONCURRENCY: '16'
  METRICS_DEAD_LETTER: 'blob'
  METRICS_DEAD_LETTER_QUEUE: metricsDeadLetterQueueName
  METRICS_DEDUP_TTL_DAYS: '400'
  METRICS_PULL_SCHEDULE: metricsPullSchedule
  METRICS_PULL_SOURCES: metricsPullSources
  COST_MEASUREMENT: 'cloud_costs'
  COST_TAG_KEY: 'leanix-fact-sheet-id'
  COST_LOOKBACK_DAYS: '14'
  LDIF_SYNC_SCHEDULE: ldifSyncSchedule
  LDIF_SOURCE: ldifSource
  LDIF_EXPORT_KEY: 'exports/cmdb_export.csv'
  LDIF_MAPPING_KEY: ''
  LDIF_MAPPING_PATH: ''
  LDIF_PROCESSORS_PATH: ''
  LDIF_CONNECTOR_TYPE: ''
  LDIF_CONNECTOR_ID: ''
  LDIF_CONNECTOR_VERSION: ''
  LDIF_PROCESSING_MODE: ''
  LDIF_CUSTOM_FIELDS: '{}'
  LDIF_TEST_RUN: 'false'
  LDIF_URL_INPUT_THRESHOLD_BYTES: '20000000'
  LDIF_LARGE_MODE: 'url'
  LDIF_CHUNK_ITEMS: '50000'
  LDIF_RUN_DEADLINE_SECONDS: '3600'
  LDIF_POLL_INITIAL_SECONDS: '2'
  LDIF_POLL_MAX_SECONDS: '30'
  LDIF_LOCK_TTL_SECONDS: '7200'
  LDIF_ARCHIVE_PREFIX: 'ldif-sync'
  LDIF_METRICS_SCHEMA: 'ldif_sync_runs'
  AWS_INVENTORY_REGIONS: ''
  AWS_INVENTORY_APP_TAG: 'leanix-application'
  TOKEN_ROTATION_SCHEDULE: tokenRotationSchedule
  TOKEN_ROTATION_INTERVAL_DAYS: '30'
  TOKEN_ROTATION_EARLY_DAYS: '14'
  TOKEN_ROTATION_USER_IDS: tokenRotationUserIds
}

// Every secret setting as a Key Vault reference, resolved by the platform with the identity.
var secretSettings = {
  LEANIX_API_TOKEN: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${tokenSecretName}/)'
  WEBHOOK_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${webhookSecretName}/)'
  METRICS_SECRET: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${metricsSecretName}/)'
  SLACK_WEBHOOK_URL: empty(slackWebhookUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${slackSecretName}/)'
  TEAMS_WEBHOOK_URL: empty(teamsWebhookUrl) ? '' : '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${teamsSecretName}/)'
}

resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: union(hostSettings, codeSettings, secretSettings)
  dependsOn: [
    keyVaultSecretsUser
    storageBlobDataOwner
    storageQueueDataContributor
    storageTableDataContributor
    webhookSecretResource
    metricsSecretResource
    slackSecret
    teamsSecret
  ]
}

//********************************************
// Outputs
//********************************************

output AZURE_LOCATION string = location
output AZURE_FUNCTION_APP_NAME string = functionApp.name
output AZURE_KEY_VAULT_NAME string = vault.name
output AZURE_STORAGE_ACCOUNT_NAME string = storage.name
output WEBHOOK_URL string = 'https://${functionApp.properties.defaultHostName}/api/leanix/webhook'
output METRICS_URL string = 'https://${functionApp.properties.defaultHostName}/api/metrics'
output HEALTH_URL string = 'https://${functionApp.properties.defaultHostName}/api/health'
