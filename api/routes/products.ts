/**
 * The catalog: GET /products (public: a storefront shows it before login; published products only), and for admins
 * POST /products and PATCH /products/:sku (name, price, status flow draft -> published -> archived -> draft).
 */
import type { RouterMiddleware } from '@koa/router';
import type { Middleware } from 'koa';
import type { StockPublisher } from '../../lib/stock-events';
import type { AuthState } from '../auth';
import { readJsonBody } from '../../lib/http/body';
import { createProduct, listPublishedProducts, updateProduct } from '../catalog-store';
import type { RouteDeps } from '../deps';
import { productNotFound } from '../errors';
import { createProductBodySchema, skuSchema, updateProductBodySchema } from '../validation';
import { parseOrThrow } from '../../lib/http/validate';

/** The SKU of a product path; a malformed one is a 404 like an unknown one. */
export function pathSku(raw: string | undefined): string {
  const sku = raw ?? '';
  if (!skuSchema.safeParse(sku).success) throw productNotFound(sku);
  return sku;
}

/** Handler of GET /products. */
export function getProducts({ db }: RouteDeps): Middleware {
  return async (ctx) => {
    ctx.body = await listPublishedProducts(db);
  };
}

/** Handler of POST /products (admin): 201 with the product; its opening stock is its first movement. */
export function postProduct({ db }: RouteDeps, publish: StockPublisher): Middleware<AuthState> {
  return async (ctx) => {
    const body = parseOrThrow(createProductBodySchema, await readJsonBody(ctx));
    const { product, movements } = await createProduct(db, body);
    await publish(movements);
    ctx.status = 201;
    ctx.set('Location', `/products/${product.sku}`);
    ctx.body = product;
  };
}

/** Handler of PATCH /products/:sku (admin): 200 with the product as it is now. */
export function patchProduct({ db }: RouteDeps): RouterMiddleware<AuthState> {
  return async (ctx) => {
    const sku = pathSku(ctx.params.sku);
    const body = parseOrThrow(updateProductBodySchema, await readJsonBody(ctx));
    ctx.body = await updateProduct(db, sku, body);
  };
}
