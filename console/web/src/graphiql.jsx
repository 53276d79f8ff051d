// GraphiQL served from the binary (no CDN). Queries go to /graphql, subscriptions to
// /graphql/ws (graphql-transport-ws). The console's sign-in token, when there is one in this
// tab, is put in the headers editor, so a signed-in user can query at once; headers are not
// persisted (a token must not outlive the tab in the browser's storage).
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import 'graphiql/graphiql.css';

const token = sessionStorage.getItem('cmdb.token');
const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql/ws`;
const fetcher = createGraphiQLFetcher({
  url: '/graphql',
  subscriptionUrl: wsUrl,
  // Subscriptions authenticate in connection_init (browsers set no headers on WebSockets).
  wsConnectionParams: token ? { Authorization: `Bearer ${token}` } : {},
});

const defaultHeaders = token ? JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2) : undefined;
const defaultQuery = `# cmdb GraphQL: the console at /console is built on these same queries.
{
  businessServices { id name criticality owner operationalStatus }
  stats { cis relationships byClass { name count } }
}
`;

createRoot(document.getElementById('graphiql')).render(
  <GraphiQL fetcher={fetcher} defaultQuery={defaultQuery} defaultHeaders={defaultHeaders} shouldPersistHeaders={false} />,
);
