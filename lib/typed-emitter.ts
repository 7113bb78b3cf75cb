// EventEmitter typed by an event map: an event name the map does not have
// fails to compile, and listeners get the event's argument types. Our own
// declarations rather than `EventEmitter<Map>`: that generic is missing from
// older @types/node and accepts any event name in newer ones.
import { EventEmitter } from 'node:events';

export type EventMap<Events> = { [K in keyof Events]: unknown[] };

export interface TypedEmitter<Events extends EventMap<Events>> {
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  off<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  addListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  removeListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  prependListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  prependOnceListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this;
  removeAllListeners(event?: keyof Events): this;
  emit<K extends keyof Events>(event: K, ...args: Events[K]): boolean;
  listenerCount<K extends keyof Events>(event: K, listener?: (...args: Events[K]) => void): number;
  listeners<K extends keyof Events>(event: K): Array<(...args: Events[K]) => void>;
  rawListeners<K extends keyof Events>(event: K): Array<(...args: Events[K]) => void>;
  eventNames(): Array<keyof Events>;
  setMaxListeners(n: number): this;
  getMaxListeners(): number;
}

/** An EventEmitter at run time (instanceof EventEmitter holds), typed by `Events`. */
export const TypedEventEmitter = EventEmitter as unknown as new <Events extends EventMap<Events>>() => TypedEmitter<Events>;
