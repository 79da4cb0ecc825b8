import { Type, type Static } from "typebox";

/** The intake's site id is checked by the service (an unknown or malformed id is a 404). */
export const WebhookIntakeParams = Type.Object({ site_id: Type.String() });
export type WebhookIntakeParams = Static<typeof WebhookIntakeParams>;

/** A GitHub App's webhook URL names its connection (checked by the service: unknown is a 404). */
export const AppWebhookParams = Type.Object({ connection_id: Type.String() });
export type AppWebhookParams = Static<typeof AppWebhookParams>;

export const DeliveryListParams = Type.Object({ site_id: Type.String({ maxLength: 255 }) });
export type DeliveryListParams = Static<typeof DeliveryListParams>;

export const DeliveryParams = Type.Object({
  site_id: Type.String({ maxLength: 255 }),
  delivery_id: Type.String({ maxLength: 100 }),
});
export type DeliveryParams = Static<typeof DeliveryParams>;

export const ListDeliveriesQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
  per_page: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});
export type ListDeliveriesQuery = Static<typeof ListDeliveriesQuery>;
