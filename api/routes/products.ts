/** GET /products: the catalog with current stock (public: a storefront shows it before login). */
import type { Middleware } from 'koa';
import type { RouteDeps } from '../deps';
import { listProducts } from '../order-store';

/** Handler of GET /products. */
export function getProducts({ db }: RouteDeps): Middleware {
  return async (ctx) => {
    ctx.body = await listProducts(db);
  };
}
